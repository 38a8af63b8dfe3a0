// Call intake, keyboard first: the caller's number -> the resident's card
// (or a quick registration) -> service, time, notes, urgency -> submit ->
// the ranked candidates and the offer's progress, live. The card also shows
// the resident's estate and WeChat group, and answers a health question
// (H) with the nearest mobile clinic point.
//
// This file starts the intake and holds what its parts share: keys, a new
// call, a redraw. The parts are intake-*.js: lookup (the number ->
// residents), registration, card (the resident's card and the health
// question), form (the call's form and submission) and progress (the
// live progress and the plot); intake-state.js is what they share.

import { LIMITS } from './config.js';
import { services, onSettings } from './settings.js';
import { $, isTyping } from './dom.js';
import { onLangChange } from './i18n.js';
import { createPlot } from './plot.js';
import * as store from './store.js';
import { showError } from './ui.js';
import { state, el, view, latest } from './intake-state.js';
import { initLookup, showResults, renderResults } from './intake-lookup.js';
import { initRegistration, pickPoint } from './intake-registration.js';
import { loadHistory, askClinic, renderCard } from './intake-card.js';
import { initForm, buildOptions, submitCall } from './intake-form.js';
import { renderProgress, drawPlot, tick } from './intake-progress.js';

export { tick };

export function initIntake({ onOpenDetail }) {
	view.openDetail = onOpenDetail;
	for (const id of [
		'lookup-form', 'lookup-q', 'lookup-error', 'lookup-results', 'resident-card', 'register-form',
		'register-error', 'register-cancel', 'call-form', 'service-options', 'call-wanted', 'call-urgent',
		'call-notes', 'call-error', 'call-duplicate', 'call-submit', 'call-reset', 'progress-body', 'plot-note',
		'reg-mobility', 'reg-lat', 'reg-lon', 'reg-phone', 'reg-name', 'legend-clinic', 'announcer',
	]) {
		el[id] = document.getElementById(id);
	}
	// Enter submits the lookup; the button stays for the mouse, out of the
	// Tab order, so Tab goes from the number straight to the card's form.
	$('button[type=submit]', el['lookup-form']).tabIndex = -1;

	view.plot = createPlot(document.getElementById('plot'), {
		onPick: pickPoint,
		onSummary(lines) {
			el['plot-note'].textContent = lines.join(' · ');
		},
	});

	buildOptions();
	onLangChange(() => {
		buildOptions(true);
		render();
	});
	onSettings(() => {
		buildOptions(true);
		render();
	});

	initLookup();
	initRegistration();
	initForm();

	store.subscribe((kind, payload) => {
		if (kind === 'reset') {
			newCall(false);
			return;
		}
		if (kind === 'providers') drawPlot();
		if (kind === 'call' && state.callId && Number(payload.id) === state.callId) renderProgress();
		if (kind === 'call' && state.resident && Number(payload.resident_id) === state.resident.id) {
			loadHistory();
		}
	});
	setInterval(() => {
		const call = state.callId ? store.getCall(state.callId) : null;
		if (call && (call.status === 'new' || call.status === 'offered')) store.refreshCall(call.id);
	}, LIMITS.followRefreshMs);
	render();
}

export function focusPhone() {
	el['lookup-q'].focus();
	el['lookup-q'].select();
}

// Keys while the intake is on screen: 1-4 pick the service and H asks the
// health question (outside text fields), Ctrl+Enter submits the call.
export function handleKey(e) {
	if (el['call-form'].hidden) return false;
	if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
		e.preventDefault();
		submitCall();
		return true;
	}
	if ((e.key === 'h' || e.key === 'H') && !e.ctrlKey && !e.altKey && !e.metaKey && !isTyping(e.target)) {
		e.preventDefault();
		if (!e.repeat) askClinic();
		return true;
	}
	const s = /^[1-9]$/.test(e.key) ? services()[Number(e.key) - 1] : undefined;
	if (!e.ctrlKey && !e.altKey && !e.metaKey && s && !isTyping(e.target)) {
		const radio = document.getElementById('service-' + s);
		radio.checked = true;
		radio.focus();
		radio.dispatchEvent(new Event('change', { bubbles: true }));
		e.preventDefault();
		return true;
	}
	return false;
}

// The caller-ID pop was taken: its number and residents, straight in.
export function take(phone, residents) {
	newCall(false);
	el['lookup-q'].value = phone;
	state.callerPhone = phone;
	showResults(residents, phone, true);
}

export function newCall(focus = true, keepQuery = false) {
	Object.assign(state, {
		callerPhone: '', resident: null, results: [], history: null, context: null, clinic: null, preview: null, callId: null,
		idemKey: null, idemBody: null, duplicateOk: false, registering: false, pick: null,
	});
	state.distances.clear();
	latest.preview++;
	latest.clinic++;
	if (!keepQuery) el['lookup-q'].value = '';
	el['call-form'].reset();
	el['register-form'].reset();
	showError(el['lookup-error'], null);
	showError(el['call-error'], null);
	showError(el['register-error'], null);
	el['call-duplicate'].hidden = true;
	view.plot.setPicking(false);
	render();
	if (focus) focusPhone();
}

export function render() {
	renderResults();
	renderCard();
	el['call-form'].hidden = !state.resident;
	renderProgress();
	drawPlot();
}
