// Call intake, keyboard first: the caller's number -> the resident's card
// (or a quick registration) -> service, time, notes, urgency -> submit ->
// the ranked candidates and the offer's progress, live. The card also shows
// the resident's estate and WeChat group, and answers a health question
// (H) with the nearest mobile clinic point.

import { api, ApiError, newIdempotencyKey } from './api.js';
import { SERVICES, MOBILITIES, LIMITS } from './config.js';
import { h, $, $$, clear, isTyping } from './dom.js';
import { t, tMaybe, onLangChange } from './i18n.js';
import { when, full, minutes, countdown, secondsUntil, localInputToRfc3339, session, weekdayName, distance } from './format.js';
import { createPlot } from './plot.js';
import * as store from './store.js';
import { chip, flags, describeEvent, errorText, showError, toast, serviceLabel } from './ui.js';

const state = {
	callerPhone: '',
	resident: null,
	results: [],
	history: null,
	// GET /v1/residents/{id}/context: null while loading or when it failed
	// (the card then shows neither line), else its body.
	context: null,
	// The health question: null, {loading}, {data} or {error}.
	clinic: null,
	preview: null,
	callId: null,
	idemKey: null,
	idemBody: null,
	duplicateOk: false,
	registering: false,
	pick: null,
	busy: false,
	distances: new Map(),
};

let plot;
let previewTimer = null;
let previewSeq = 0;
let lookupSeq = 0;
let clinicSeq = 0;
let lastSaid = '';
let openDetail = () => {};

const el = {};

export function initIntake({ onOpenDetail }) {
	openDetail = onOpenDetail;
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

	plot = createPlot(document.getElementById('plot'), {
		onPick(lat, lon) {
			if (!state.registering) return;
			el['reg-lat'].value = String(lat);
			el['reg-lon'].value = String(lon);
			state.pick = { lat, lon };
			drawPlot();
		},
		onSummary(lines) {
			el['plot-note'].textContent = lines.join(' · ');
		},
	});

	buildOptions();
	onLangChange(() => {
		buildOptions(true);
		render();
	});

	el['lookup-form'].addEventListener('submit', (e) => {
		e.preventDefault();
		lookup(el['lookup-q'].value);
	});
	el['register-form'].addEventListener('submit', (e) => {
		e.preventDefault();
		register();
	});
	el['register-cancel'].addEventListener('click', () => {
		hideRegister();
		focusPhone();
	});
	for (const id of ['reg-lat', 'reg-lon']) {
		el[id].addEventListener('input', () => {
			const lat = Number.parseFloat(el['reg-lat'].value);
			const lon = Number.parseFloat(el['reg-lon'].value);
			state.pick = Number.isFinite(lat) && Number.isFinite(lon) ? { lat, lon } : null;
			drawPlot();
		});
	}
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

function buildOptions(relabel = false) {
	const checked = selectedService();
	clear(el['service-options']);
	SERVICES.forEach((s, i) => {
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

function selectedService() {
	const r = $('input[name=service]:checked', el['call-form']);
	return r ? r.value : null;
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
	if (!e.ctrlKey && !e.altKey && !e.metaKey && /^[1-4]$/.test(e.key) && !isTyping(e.target)) {
		const s = SERVICES[Number(e.key) - 1];
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

async function lookup(raw) {
	const q = raw.trim();
	showError(el['lookup-error'], null);
	if (!q) {
		showError(el['lookup-error'], t('lookup.empty'));
		return;
	}
	const phoneLike = /^[\s+()\d-]+$/.test(q);
	const seq = ++lookupSeq;
	try {
		const res = await api('GET', '/v1/residents', { query: phoneLike ? { phone: q } : { name: q } });
		if (seq !== lookupSeq) return;
		newCall(false, true);
		state.callerPhone = phoneLike ? q : '';
		showResults(res.items || [], phoneLike ? q : '', false, phoneLike ? '' : q);
	} catch (err) {
		if (seq !== lookupSeq || (err instanceof ApiError && err.status === 401)) return;
		showError(el['lookup-error'], err.code === 'invalid_phone' || err.code === 'invalid_parameter' ? t('lookup.badPhone') : errorText(err));
	}
}

function showResults(items, phone, fromRinging, name = '') {
	state.results = items;
	if (items.length === 1) {
		selectResident(items[0], fromRinging);
		return;
	}
	if (items.length === 0) {
		render();
		showRegister({ phone, name });
		return;
	}
	render();
	const first = $('button', el['lookup-results']);
	if (fromRinging && first) first.focus();
}

function selectResident(r, focusService = false) {
	state.resident = r;
	state.results = state.results.length > 1 ? state.results : [];
	state.registering = false;
	state.history = null;
	state.context = null;
	state.clinic = null;
	state.preview = null;
	clinicSeq++;
	hideRegister(false);
	render();
	loadHistory();
	loadContext();
	schedulePreview();
	if (focusService) focusServiceGroup();
}

function focusServiceGroup() {
	const r = $('input[name=service]:checked', el['call-form']) || $('input[name=service]', el['call-form']);
	if (r) r.focus();
}

async function loadHistory() {
	const r = state.resident;
	if (!r) return;
	try {
		const res = await api('GET', '/v1/calls', { query: { resident_id: r.id, limit: LIMITS.residentCalls } });
		if (state.resident !== r) return;
		state.history = res.items || [];
	} catch (err) {
		if (state.resident !== r) return;
		state.history = err;
	}
	renderCard();
}

// The estate and WeChat lines: best effort; a 404 or an error leaves the
// card as it is.
async function loadContext() {
	const r = state.resident;
	if (!r) return;
	try {
		const res = await api('GET', `/v1/residents/${encodeURIComponent(r.id)}/context`);
		if (state.resident !== r) return;
		state.context = res && typeof res === 'object' ? res : null;
	} catch {
		return;
	}
	renderCard();
}

// A health question: the nearest mobile clinic point and its next session.
async function askClinic() {
	const r = state.resident;
	if (!r) return;
	const seq = ++clinicSeq;
	state.clinic = { loading: true };
	renderCard();
	try {
		const data = await api('GET', '/v1/clinics/nearest', { query: { resident_id: r.id } });
		if (seq !== clinicSeq || state.resident !== r) return;
		state.clinic = data && data.clinic ? { data } : { error: null };
		if (state.clinic.data) {
			el.announcer.textContent = t('clinic.said', {
				name: data.clinic.name,
				distance: distance(data.clinic.distance_m),
				next: data.next_visit ? session(data.next_visit, data.next_visit_ends) : t('clinic.noNext'),
			});
		}
	} catch (err) {
		if (seq !== clinicSeq || state.resident !== r) return;
		if (err instanceof ApiError && err.status === 401) return;
		state.clinic = { error: err };
	}
	renderCard();
	drawPlot();
}

function schedulePreview() {
	clearTimeout(previewTimer);
	previewTimer = setTimeout(preview, LIMITS.previewDelayMs);
}

async function preview() {
	const r = state.resident;
	const service = selectedService();
	if (!r || !service || state.callId) return;
	const at = localInputToRfc3339(el['call-wanted'].value);
	const seq = ++previewSeq;
	try {
		const res = await api('GET', '/v1/matches', { query: { resident_id: r.id, service, at } });
		if (seq !== previewSeq || state.resident !== r) return;
		state.preview = { service, candidates: res.candidates || [] };
		// Distances the call's own candidates do not carry (the plot reads
		// the travel mode from them).
		for (const c of state.preview.candidates) state.distances.set(c.provider_id, c.distance_m);
	} catch (err) {
		if (seq !== previewSeq) return;
		state.preview = { service, candidates: [], error: err };
	}
	renderProgress();
	drawPlot();
}

export function newCall(focus = true, keepQuery = false) {
	Object.assign(state, {
		callerPhone: '', resident: null, results: [], history: null, context: null, clinic: null, preview: null, callId: null,
		idemKey: null, idemBody: null, duplicateOk: false, registering: false, pick: null,
	});
	state.distances.clear();
	previewSeq++;
	clinicSeq++;
	if (!keepQuery) el['lookup-q'].value = '';
	el['call-form'].reset();
	el['register-form'].reset();
	showError(el['lookup-error'], null);
	showError(el['call-error'], null);
	showError(el['register-error'], null);
	el['call-duplicate'].hidden = true;
	plot.setPicking(false);
	render();
	if (focus) focusPhone();
}

// ---- Registration --------------------------------------------------------

function showRegister({ phone = '', name = '' } = {}) {
	state.registering = true;
	state.resident = null;
	state.pick = null;
	el['register-form'].reset();
	el['reg-mobility'].value = 'walk';
	el['reg-phone'].value = phone;
	el['reg-name'].value = name;
	showError(el['register-error'], null);
	el['register-form'].hidden = false;
	plot.setPicking(true);
	render();
	(name ? el['reg-phone'] : el['reg-name']).focus();
}

function hideRegister(redraw = true) {
	state.registering = false;
	state.pick = null;
	el['register-form'].hidden = true;
	plot.setPicking(false);
	if (redraw) render();
}

async function register() {
	const f = el['register-form'];
	showError(el['register-error'], null);
	const v = (n) => f.elements[n].value.trim();
	for (const n of ['name', 'phone', 'address', 'lat', 'lon']) {
		if (!v(n)) {
			showError(el['register-error'], t('register.missing', { field: t('register.' + n) }));
			f.elements[n].focus();
			return;
		}
	}
	const lat = Number.parseFloat(v('lat'));
	const lon = Number.parseFloat(v('lon'));
	if (!Number.isFinite(lat) || lat < -90 || lat > 90 || !Number.isFinite(lon) || lon < -180 || lon > 180) {
		showError(el['register-error'], t('register.badCoords'));
		f.elements.lat.focus();
		return;
	}
	const body = {
		name: v('name'),
		phone: v('phone'),
		address: v('address'),
		lat,
		lon,
		mobility: f.elements.mobility.value,
		lives_alone: f.elements.lives_alone.checked,
		disabled: f.elements.disabled.checked,
		low_income: f.elements.low_income.checked,
	};
	if (v('community')) body.community = v('community');
	try {
		const r = await api('POST', '/v1/residents', { body });
		toast(t('register.done', { name: r.name }), 'ok');
		state.callerPhone = state.callerPhone || r.phone;
		state.results = [];
		selectResident(r, true);
	} catch (err) {
		if (err instanceof ApiError && err.status === 401) return;
		showError(el['register-error'], errorText(err));
		const field = err.field && f.elements[err.field];
		if (field && field.focus) field.focus();
	}
}

// ---- The call ------------------------------------------------------------

async function submitCall() {
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
			h('button', { type: 'button', class: 'ghost small', text: t('call.viewOpen'), on: { click: (e) => openDetail(open.id, e.currentTarget) } }),
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

// ---- Rendering -----------------------------------------------------------

function render() {
	renderResults();
	renderCard();
	el['call-form'].hidden = !state.resident;
	renderProgress();
	drawPlot();
}

function renderResults() {
	const box = el['lookup-results'];
	clear(box);
	if (state.registering && !state.results.length) {
		box.append(h('p', { class: 'muted', text: t('lookup.none') }));
		box.hidden = false;
		return;
	}
	if (state.results.length < 2) {
		box.hidden = true;
		return;
	}
	box.append(h('p', { class: 'muted', text: t('lookup.many', { n: state.results.length }) }));
	const list = h('ul', { class: 'choices' });
	for (const r of state.results) {
		const current = state.resident && state.resident.id === r.id;
		list.append(
			h(
				'li',
				null,
				h(
					'button',
					{ type: 'button', class: 'choice' + (current ? ' current' : ''), 'aria-pressed': current ? 'true' : 'false', on: { click: () => selectResident(r, true) } },
					h('strong', { text: r.name }),
					h('span', { class: 'muted', text: ` ${r.address}` }),
				),
			),
		);
	}
	box.append(list);
	box.hidden = false;
}

function renderCard() {
	const card = el['resident-card'];
	const r = state.resident;
	// The card is redrawn whole: the health button keeps the focus it had.
	const refocus = document.activeElement && document.activeElement.id === 'clinic-ask';
	clear(card);
	if (!r) {
		card.hidden = true;
		return;
	}
	card.hidden = false;
	const community = r.community ? (r.street ? `${r.community} · ${r.street}` : r.community) : t('resident.noCommunity');
	// Out of the Tab order (Tab goes from the number to the service, as
	// before): H asks from the keyboard, the button is for the mouse.
	const ask = h(
		'button',
		{
			type: 'button',
			id: 'clinic-ask',
			class: 'ghost small card-action',
			tabindex: '-1',
			'aria-keyshortcuts': 'H',
			'aria-busy': state.clinic && state.clinic.loading ? 'true' : null,
			on: { click: () => askClinic() },
		},
		h('span', { text: t('clinic.ask') }),
		' ',
		h('kbd', { text: 'H' }),
	);
	card.append(
		h(
			'div',
			{ class: 'card-head' },
			h('h3', { id: 'resident-name', class: 'resident-name', text: r.name }),
			h('span', { class: 'muted', text: `#${r.id}` }),
			h('span', { class: 'flags' }, flags(r)),
			ask,
		),
		h(
			'dl',
			{ class: 'facts' },
			h('dt', { text: t('resident.phone') }),
			h('dd', { class: 'phone', text: r.phone }),
			h('dt', { text: t('resident.address') }),
			h('dd', { text: r.address }),
			h('dt', { text: t('resident.community') }),
			h('dd', { text: community }),
			contextFacts(state.context),
			h('dt', { text: t('resident.mobility') }),
			h('dd', { text: t('mobility.' + r.mobility) }),
		),
	);
	if (state.clinic) card.append(clinicBlock(state.clinic));
	if (refocus) document.getElementById('clinic-ask').focus();
	const hist = h('div', { class: 'history' }, h('h4', { text: t('resident.lastCalls') }));
	if (state.history === null) hist.append(h('p', { class: 'muted', text: t('common.loading') }));
	else if (state.history instanceof Error) hist.append(h('p', { class: 'form-error', text: errorText(state.history) }));
	else if (!state.history.length) hist.append(h('p', { class: 'muted', text: t('resident.noCalls') }));
	else {
		const ul = h('ul', { class: 'history-list' });
		for (const c of state.history) {
			ul.append(
				h(
					'li',
					null,
					h('span', { class: 'when', text: when(c.created_at), title: full(c.created_at) }),
					h('span', { text: serviceLabel(c.service) }),
					chip('status', c.status),
					c.accepted_provider ? h('span', { class: 'muted', text: c.accepted_provider.name }) : null,
				),
			);
		}
		hist.append(ul);
	}
	card.append(hist);
}

// 小区 and 微信群: whatever of the context there is.
function contextFacts(ctx) {
	if (!ctx) return null;
	const out = [];
	const e = ctx.estate;
	if (e && e.name) {
		const dd = h('dd', { id: 'resident-estate' }, h('span', { class: 'estate-name', text: e.name }));
		if (e.has_property_management === false) {
			// "无物业 · 自治小组：<contact> <phone>（duties）": 无物业 after the
			// name, the committee on a line of its own.
			dd.append(h('span', { class: 'estate-pm', text: ` · ${t('estate.noPm')}` }));
			const c = e.committee;
			if (c && (c.contact || c.phone)) {
				const duties = (Array.isArray(c.duties) ? c.duties : []).map((d) => tMaybe('duty.' + d) || String(d));
				dd.append(
					h(
						'span',
						{ class: 'estate-gov' },
						h('span', { class: 'visually-hidden', text: ' · ' }),
						h('span', { class: 'nowrap', text: t('estate.committee', { contact: c.contact || '' }) }),
						' ',
						h('span', { class: 'phone nowrap', text: c.phone || '' }),
						duties.length ? h('span', { class: 'nowrap', text: t('estate.duties', { duties: duties.join('/') }) }) : null,
					),
				);
			}
		}
		out.push(h('dt', { text: t('resident.estate') }), dd);
	}
	const g = ctx.wechat_group;
	if (g && g.name) {
		const n = Number(g.members);
		out.push(
			h('dt', { text: t('resident.wechat') }),
			h('dd', { id: 'resident-wechat', text: Number.isFinite(n) && g.members !== null ? `${g.name} · ${t('resident.members', { n })}` : g.name }),
		);
	}
	return out;
}

// The answer to a health question, under the facts.
function clinicBlock(q) {
	const box = h('section', { id: 'clinic-answer', class: 'clinic-answer', 'aria-labelledby': 'clinic-title' });
	box.append(h('h4', { id: 'clinic-title', text: t('clinic.title') }));
	if (q.loading) {
		box.append(h('p', { class: 'muted', text: t('common.loading') }));
		return box;
	}
	if (!q.data) {
		box.append(h('p', { class: 'form-error', text: q.error ? errorText(q.error) : t('error.no_clinic') }));
		return box;
	}
	const { clinic: c, next_visit: next, next_visit_ends: ends } = q.data;
	const services = (c.services || []).map((s) => tMaybe('clinicService.' + s.code) || s.name || s.code);
	// Each session unbroken across lines (no-break space, word joiners).
	const weekly = (c.schedule || []).map((s) => `${weekdayName(s.dow)}\u00a0${s.opens}\u2060–\u2060${s.closes}`);
	// The estate only when the point's name does not already say it.
	const where = [c.estate && !String(c.name).includes(c.estate) ? c.estate : null, distance(c.distance_m)].filter(Boolean).join(' · ');
	box.append(
		h(
			'dl',
			{ class: 'facts clinic-facts' },
			h('dt', { text: t('clinic.point') }),
			h('dd', { id: 'clinic-name' }, h('strong', { text: c.name }), h('span', { class: 'muted', text: ` · ${where}` })),
			h('dt', { text: t('clinic.next') }),
			h(
				'dd',
				{ id: 'clinic-next', class: next ? 'clinic-next' : 'muted', dataset: next ? { at: next } : null },
				next ? session(next, ends) : t('clinic.noNext'),
				weekly.length ? h('span', { class: 'clinic-weekly', text: t('clinic.weekly', { list: weekly.join(t('list.sep')) }) }) : null,
			),
			services.length ? h('dt', { text: t('clinic.services') }) : null,
			services.length ? h('dd', { id: 'clinic-services', text: services.join(t('list.sep')) }) : null,
		),
	);
	return box;
}

function candidateRow(c, live) {
	const li = h(
		'li',
		{ class: 'cand' + (live ? ' offer-' + c.status : '') },
		h('span', { class: 'rank', text: String(c.rank), 'aria-hidden': 'true' }),
		h('span', { class: 'cand-name' }, h('span', { class: 'visually-hidden', text: t('progress.rank', { n: c.rank }) }), c.provider_name),
		h('span', { class: 'cand-min', text: minutes(c.travel_minutes) }),
	);
	if (live) {
		li.append(chip('offer', c.status));
		if (c.status === 'offered' && c.respond_by) {
			const s = secondsUntil(c.respond_by);
			li.append(
				h('span', {
					class: 'deadline' + (s !== null && s <= LIMITS.deadlineWarnS ? ' soon' : ''),
					dataset: { deadline: c.respond_by },
					text: countdown(c.respond_by),
				}),
			);
		}
	} else if (typeof c.distance_m === 'number') {
		li.append(h('span', { class: 'muted', text: t('unit.km', { n: (c.distance_m / 1000).toFixed(1) }) }));
	}
	return li;
}

const STATUS_LINE = {
	new: 'progress.new',
	offered: 'progress.offered',
	accepted: 'progress.accepted',
	unmatched: 'progress.unmatched',
	completed: 'progress.completed',
	cancelled: 'progress.cancelled',
};

function renderProgress() {
	const box = el['progress-body'];
	clear(box);
	const call = state.callId ? store.getCall(state.callId) : null;
	if (call) {
		box.append(
			h(
				'div',
				{ class: 'progress-head' },
				h('strong', { text: t('progress.call', { id: call.id }) }),
				h('span', { text: `${serviceLabel(call.service)} · ${call.resident?.name || ''}` }),
				chip('status', call.status),
				call.urgency === 'urgent' ? h('span', { class: 'chip urgent', text: t('call.urgent') }) : null,
			),
		);
		const line = t(STATUS_LINE[call.status] || 'progress.new', { who: call.accepted_provider?.name || '' });
		// The panel is redrawn on every event; a screen reader hears only
		// the changes of the call's status.
		const said = `${call.id}:${call.status}`;
		if (said !== lastSaid) {
			lastSaid = said;
			document.getElementById('announcer').textContent = `${t('progress.call', { id: call.id })}: ${line}`;
		}
		box.append(
			h('p', {
				id: 'call-status-line',
				class: 'status-line status-' + call.status,
				dataset: { status: call.status, callId: call.id },
				role: call.status === 'unmatched' ? 'alert' : null,
				text: line,
			}),
		);
		if (call.candidates.length) {
			const ol = h('ol', { class: 'cands', id: 'candidates' });
			for (const c of call.candidates) ol.append(candidateRow(c, true));
			box.append(ol);
		}
		const evs = store.eventsFor(call.id);
		if (evs.length) {
			const log = h('ol', { class: 'event-log' });
			for (const ev of evs.slice(-5)) {
				log.append(h('li', null, h('span', { class: 'when', text: when(ev.at) }), ' ', describeEvent(ev, call)));
			}
			box.append(log);
		}
		box.append(
			h(
				'div',
				{ class: 'actions' },
				h('button', { type: 'button', class: 'ghost small', text: t('progress.detail'), on: { click: (e) => openDetail(call.id, e.currentTarget) } }),
				h('button', { type: 'button', class: 'ghost small', text: t('call.newCall'), on: { click: () => newCall() } }),
			),
		);
		return;
	}
	if (state.preview && state.resident) {
		const p = state.preview;
		box.append(h('p', { class: 'muted', text: t('progress.preview', { service: serviceLabel(p.service) }) }));
		if (p.error) box.append(h('p', { class: 'form-error', text: errorText(p.error) }));
		else if (!p.candidates.length) box.append(h('p', { class: 'status-line status-unmatched', text: t('progress.previewNone') }));
		else {
			const ol = h('ol', { class: 'cands preview', id: 'preview-candidates' });
			for (const c of p.candidates) ol.append(candidateRow(c, false));
			box.append(ol);
		}
		return;
	}
	box.append(h('p', { class: 'muted empty', text: t('progress.empty') }));
}

function drawPlot() {
	if (!plot) return;
	if (state.registering) {
		el['legend-clinic'].hidden = true;
		plot.draw({ resident: null, candidates: [], pick: state.pick });
		return;
	}
	const r = state.resident;
	const call = state.callId ? store.getCall(state.callId) : null;
	let candidates = call ? call.candidates : state.preview ? state.preview.candidates : [];
	if (call) {
		candidates = candidates.map((c) =>
			typeof c.distance_m === 'number' || !state.distances.has(c.provider_id) ? c : { ...c, distance_m: state.distances.get(c.provider_id) },
		);
	}
	const c = r && state.clinic && state.clinic.data ? state.clinic.data.clinic : null;
	const clinic = c && typeof c.lat === 'number' && typeof c.lon === 'number' ? { lat: c.lat, lon: c.lon, name: c.name } : null;
	el['legend-clinic'].hidden = !clinic;
	plot.draw({ resident: r ? { lat: r.lat, lon: r.lon, name: r.name } : null, candidates, pick: null, clinic });
}

// Once a second: countdowns of the offers on screen.
export function tick() {
	for (const node of $$('[data-deadline]', el['progress-body'])) {
		const iso = node.dataset.deadline;
		node.textContent = countdown(iso);
		const s = secondsUntil(iso);
		node.classList.toggle('soon', s !== null && s <= LIMITS.deadlineWarnS);
	}
}
