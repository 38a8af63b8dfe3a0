// The call's form: service, time, notes, urgency; the preview of the
// candidates while it is filled in; submit with an idempotency key; an
// open call for the same service shown before a second is logged.

import { api, ApiError, newIdempotencyKey } from './api.js';
import { MOBILITIES, LIMITS } from './config.js';
import { services } from './settings.js';
import { h, $, clear } from './dom.js';
import { t } from './i18n.js';
import { localInputToRfc3339 } from './format.js';
import { errorText, showError, toast, serviceLabel } from './ui.js';
import * as store from './store.js';
import { state, el, view, latest } from './intake-state.js';
import { loadHistory } from './intake-card.js';
import { renderProgress, drawPlot } from './intake-progress.js';
import { newCall, focusPhone } from './intake.js';

let previewTimer = null;

export function initForm() {
	el['call-form'].addEventListener('submit', (e) => {
		e.preventDefault();
		submitCall();
	});
	el['call-form'].addEventListener('input', () => {
		state.duplicateOk = false;
		el['call-duplicate'].hidden = true;
	});
	el['call-form'].addEventListener('change', (e) => {
		if (e.target.name === 'service' || e.target.id === 'call-wanted') schedulePreview();
	});
	el['call-reset'].addEventListener('click', () => newCall());
}

export function buildOptions(relabel = false) {
	const checked = selectedService();
	clear(el['service-options']);
	services().forEach((s, i) => {
		el['service-options'].append(
			h(
				'label',
				{ class: 'service-option', dataset: { service: s } },
				h('input', { type: 'radio', name: 'service', value: s, id: 'service-' + s, class: 'visually-hidden', checked: s === checked }),
				h('span', { class: 'key', text: String(i + 1), 'aria-hidden': 'true' }),
				h('span', { text: serviceLabel(s) }),
			),
		);
	});
	const mob = el['reg-mobility'];
	const cur = mob.value || 'walk';
	clear(mob);
	for (const m of MOBILITIES) mob.append(h('option', { value: m, text: t('mobility.' + m), selected: m === cur }));
	if (!relabel) mob.value = 'walk';
}

export function selectedService() {
	const r = $('input[name=service]:checked', el['call-form']);
	return r ? r.value : null;
}

export function focusServiceGroup() {
	const r = $('input[name=service]:checked', el['call-form']) || $('input[name=service]', el['call-form']);
	if (r) r.focus();
}

export function schedulePreview() {
	clearTimeout(previewTimer);
	previewTimer = setTimeout(preview, LIMITS.previewDelayMs);
}

async function preview() {
	const r = state.resident;
	const service = selectedService();
	if (!r || !service || state.callId) return;
	const at = localInputToRfc3339(el['call-wanted'].value);
	const seq = ++latest.preview;
	try {
		const res = await api('GET', '/v1/matches', { query: { resident_id: r.id, service, at } });
		if (seq !== latest.preview || state.resident !== r) return;
		state.preview = { service, candidates: res.candidates || [] };
		// Distances the call's own candidates do not carry (the plot reads
		// the travel mode from them).
		for (const c of state.preview.candidates) state.distances.set(c.provider_id, c.distance_m);
	} catch (err) {
		if (seq !== latest.preview) return;
		state.preview = { service, candidates: [], error: err };
	}
	renderProgress();
	drawPlot();
}

export async function submitCall() {
	if (state.busy) return;
	const r = state.resident;
	showError(el['call-error'], null);
	if (!r) {
		showError(el['call-error'], t('call.noResident'));
		focusPhone();
		return;
	}
	const service = selectedService();
	if (!service) {
		showError(el['call-error'], t('call.noService'));
		focusServiceGroup();
		return;
	}
	const body = {
		caller_phone: state.callerPhone || r.phone,
		resident_id: r.id,
		service,
		notes: el['call-notes'].value.trim(),
		urgency: el['call-urgent'].checked ? 'urgent' : 'normal',
	};
	const wanted = el['call-wanted'].value;
	if (wanted) {
		const at = localInputToRfc3339(wanted);
		if (!at) {
			showError(el['call-error'], t('call.badWanted'));
			el['call-wanted'].focus();
			return;
		}
		body.wanted_at = at;
	}
	if (state.duplicateOk) body.duplicate_ok = true;
	// One key per submission; the same key again only when the very same
	// call is sent again (a retry after a lost answer).
	const sig = JSON.stringify(body);
	if (!state.idemKey || state.idemBody !== sig) {
		state.idemKey = newIdempotencyKey();
		state.idemBody = sig;
	}
	state.busy = true;
	el['call-submit'].disabled = true;
	try {
		const call = await api('POST', '/v1/calls', { body, headers: { 'Idempotency-Key': state.idemKey } });
		state.idemKey = null;
		state.idemBody = null;
		state.duplicateOk = false;
		state.callId = Number(call.id);
		state.preview = null;
		el['call-duplicate'].hidden = true;
		store.upsertCall(call);
		toast(t('call.logged', { id: call.id }), 'ok');
		renderProgress();
		drawPlot();
		loadHistory();
	} catch (err) {
		if (err instanceof ApiError && err.status === 401) return;
		if (err.code === 'duplicate_call' && err.body && err.body.open_call) {
			showDuplicate(err.body.open_call);
		} else if (err.status === 0) {
			showError(el['call-error'], t('call.retrySafe'));
		} else {
			showError(el['call-error'], errorText(err));
		}
	} finally {
		state.busy = false;
		el['call-submit'].disabled = false;
	}
}

function showDuplicate(open) {
	store.upsertCall(open);
	const box = el['call-duplicate'];
	clear(box);
	box.append(
		h('p', {
			text: t('call.duplicate', { id: open.id, service: serviceLabel(open.service), status: t('status.' + open.status) }),
		}),
		h(
			'div',
			{ class: 'actions' },
			h('button', { type: 'button', class: 'ghost small', text: t('call.viewOpen'), on: { click: (e) => view.openDetail(open.id, e.currentTarget) } }),
			h('button', {
				type: 'button',
				class: 'primary small',
				text: t('call.logAnyway'),
				on: {
					click: () => {
						state.duplicateOk = true;
						submitCall();
					},
				},
			}),
		),
	);
	box.hidden = false;
}
