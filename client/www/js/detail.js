// A call's detail: facts, ranked candidates, the timeline (events of the
// stream, the call's own times, webhook attempts), delivery attempts;
// cancel and complete. Esc closes it and gives focus back.

import { api, ApiError } from './api.js';
import { h, clear } from './dom.js';
import { t, onLangChange } from './i18n.js';
import { when, full, minutes, countdown } from './format.js';
import * as store from './store.js';
import { chip, serviceLabel, describeEvent, errorText, toast } from './ui.js';

const OPEN = ['new', 'offered', 'accepted', 'unmatched'];
const el = {};
let currentId = null;
let opener = null;
let mode = null; // null | 'cancel' | 'complete'
let busy = false;
let lastError = null;

export function initDetail() {
	for (const id of ['detail', 'detail-title', 'detail-body', 'detail-close']) el[id] = document.getElementById(id);
	el['detail-title'].tabIndex = -1;
	el['detail-close'].addEventListener('click', close);
	store.subscribe((kind, payload) => {
		if (kind === 'reset') close();
		else if (currentId && kind === 'call' && Number(payload.id) === currentId) render();
	});
	onLangChange(() => currentId && render());
}

export function isOpen() {
	return currentId !== null;
}

export function open(id, from) {
	currentId = Number(id);
	opener = from || document.activeElement;
	mode = null;
	lastError = null;
	el.detail.hidden = false;
	document.body.classList.add('detail-open');
	render();
	el['detail-title'].focus();
	store.refreshCall(currentId);
}

export function close() {
	if (currentId === null) return;
	const closing = currentId;
	currentId = null;
	el.detail.hidden = true;
	document.body.classList.remove('detail-open');
	clear(el['detail-body']);
	// The opener may have been redrawn meanwhile (board rows are): find
	// the same call's control again.
	const back =
		(opener && opener.isConnected && opener) ||
		document.querySelector(`#board-rows tr[data-call-id="${closing}"] button`) ||
		document.querySelector(`button[data-call-id="${closing}"]`) ||
		document.getElementById('main');
	opener = null;
	if (back) back.focus();
}

async function act(action, reason) {
	if (busy) return;
	busy = true;
	lastError = null;
	const id = currentId;
	try {
		const opts = reason ? { body: { reason } } : {};
		const call = await api('POST', `/v1/calls/${id}/${action}`, opts);
		store.upsertCall(call);
		mode = null;
		toast(t(action === 'cancel' ? 'detail.cancelled' : 'detail.completed', { id }), 'ok');
	} catch (err) {
		if (err instanceof ApiError && err.status === 401) return;
		if (err.code === 'invalid_transition' && err.body && err.body.call) store.upsertCall(err.body.call);
		lastError = err;
	} finally {
		busy = false;
		if (currentId === id) render();
	}
}

function timeline(call) {
	const items = [];
	const events = Array.isArray(call.events) && call.events.length ? call.events : store.eventsFor(call.id);
	const types = new Set(events.map((e) => e.type));
	if (!types.has('call.created')) items.push({ at: call.created_at, text: t('event.call.logged'), kind: 'call' });
	for (const ev of events) items.push({ at: ev.at, text: describeEvent(ev, call), kind: ev.type.split('.')[0], type: ev.type });
	const names = new Map((call.candidates || []).map((c) => [c.provider_id, `${c.rank}. ${c.provider_name}`]));
	for (const d of call.deliveries || []) {
		for (const a of d.attempts_log || []) {
			items.push({
				at: a.started_at,
				kind: 'delivery',
				text: t('timeline.attempt', {
					type: d.event_type,
					who: names.get(d.provider_id) || t('event.providerN', { id: d.provider_id }),
					n: a.attempt,
					result: a.http_status ? `HTTP ${a.http_status}` : a.error || t('timeline.noAnswer'),
					ms: a.duration_ms ?? '?',
				}),
			});
		}
	}
	if (call.closed_at && !types.has('call.' + call.status)) {
		items.push({ at: call.closed_at, text: t('status.' + call.status), kind: 'call' });
	}
	// By second, then the call's own steps before the webhooks they caused
	// (the database's and the daemon's clocks may disagree by a little).
	const rank = { call: 0, offer: 1, delivery: 2 };
	const key = (i) => [Math.floor(new Date(i.at).getTime() / 1000), rank[i.kind] ?? 1, new Date(i.at).getTime()];
	return items
		.filter((i) => i.at)
		.map((i) => ({ i, k: key(i) }))
		.sort((a, b) => a.k[0] - b.k[0] || a.k[1] - b.k[1] || a.k[2] - b.k[2])
		.map((x) => x.i);
}

function render() {
	const call = store.getCall(currentId);
	const body = el['detail-body'];
	clear(body);
	if (!call) {
		el['detail-title'].textContent = t('detail.title', { id: currentId, service: '' });
		body.append(h('p', { class: 'muted', text: t('common.loading') }));
		return;
	}
	el['detail-title'].textContent = t('detail.title', { id: call.id, service: serviceLabel(call.service) });
	body.append(
		h(
			'div',
			{ class: 'detail-status' },
			chip('status', call.status),
			call.urgency === 'urgent' ? h('span', { class: 'chip urgent', text: t('call.urgent') }) : null,
		),
	);
	const facts = [
		['detail.resident', `${call.resident?.name || ''}${call.resident?.community ? ' · ' + call.resident.community : ''}`],
		['detail.callerPhone', call.caller_phone],
		['detail.wanted', full(call.wanted_at)],
		['detail.created', full(call.created_at)],
		['detail.acceptedBy', call.accepted_provider ? call.accepted_provider.name : '—'],
		['detail.closed', call.closed_at ? full(call.closed_at) : '—'],
		['detail.notes', call.notes || '—'],
	];
	body.append(h('dl', { class: 'facts' }, facts.map(([k, v]) => [h('dt', { text: t(k) }), h('dd', { text: v })])));

	// Actions.
	const isOpenCall = OPEN.includes(call.status);
	const actions = h('div', { class: 'actions detail-actions' });
	if (mode === 'cancel') {
		const input = h('input', { id: 'cancel-reason', maxlength: 500, autocomplete: 'off' });
		const form = h(
			'form',
			{
				class: 'inline-form',
				on: {
					submit: (e) => {
						e.preventDefault();
						act('cancel', input.value.trim());
					},
				},
			},
			h('label', { for: 'cancel-reason', text: t('detail.reason') }),
			input,
			h('button', { type: 'submit', class: 'danger small', text: t('detail.confirmCancel') }),
			h('button', { type: 'button', class: 'ghost small', text: t('common.back'), on: { click: () => { mode = null; render(); } } }),
		);
		actions.append(form);
		queueMicrotask(() => input.focus());
	} else if (mode === 'complete') {
		actions.append(
			h('p', { class: 'notice warn', text: t('detail.overrideWarn') }),
			h('button', { type: 'button', id: 'confirm-complete', class: 'primary small', text: t('detail.confirmComplete'), on: { click: () => act('complete') } }),
			h('button', { type: 'button', class: 'ghost small', text: t('common.back'), on: { click: () => { mode = null; render(); } } }),
		);
		queueMicrotask(() => document.getElementById('confirm-complete')?.focus());
	} else {
		actions.append(
			h('button', {
				type: 'button',
				id: 'detail-complete',
				class: 'primary small',
				disabled: !isOpenCall,
				text: t('detail.complete'),
				on: {
					click: () => {
						if (call.status === 'accepted') act('complete');
						else {
							mode = 'complete';
							render();
						}
					},
				},
			}),
			h('button', {
				type: 'button',
				id: 'detail-cancel',
				class: 'danger small',
				disabled: !isOpenCall,
				text: t('detail.cancel'),
				on: { click: () => { mode = 'cancel'; render(); } },
			}),
		);
	}
	body.append(actions);
	if (lastError) body.append(h('p', { class: 'form-error', role: 'alert', text: errorText(lastError) }));

	// Candidates.
	body.append(h('h3', { text: t('detail.candidates') }));
	if (!call.candidates.length) body.append(h('p', { class: 'muted', text: t('detail.noCandidates') }));
	else {
		body.append(
			h(
				'table',
				{ class: 'mini-table' },
				h('thead', null, h('tr', null, ['#', t('detail.provider'), t('detail.minutes'), t('detail.offer'), t('detail.respondBy')].map((x) => h('th', { scope: 'col', text: x })))),
				h(
					'tbody',
					null,
					call.candidates.map((c) =>
						h(
							'tr',
							{ class: 'offer-' + c.status },
							h('td', { text: String(c.rank) }),
							h('td', { text: c.provider_name }),
							h('td', { text: minutes(c.travel_minutes) }),
							h('td', null, chip('offer', c.status)),
							h('td', {
								text: c.status === 'offered' && c.respond_by ? `${when(c.respond_by)} (${countdown(c.respond_by)})` : c.respond_by ? when(c.respond_by) : '—',
							}),
						),
					),
				),
			),
		);
	}

	// Timeline.
	body.append(h('h3', { text: t('detail.timeline') }));
	const items = timeline(call);
	body.append(
		h(
			'ol',
			{ class: 'timeline' },
			items.map((i) => h('li', { class: 'tl-' + i.kind }, h('span', { class: 'when', text: when(i.at), title: full(i.at) }), h('span', { text: i.text }))),
		),
	);
	if (!Array.isArray(call.events)) body.append(h('p', { class: 'hint', text: t('detail.timelineNote') }));

	// Deliveries.
	body.append(h('h3', { text: t('detail.deliveries') }));
	const deliveries = call.deliveries || [];
	if (!deliveries.length) body.append(h('p', { class: 'muted', text: t('detail.noDeliveries') }));
	const names = new Map((call.candidates || []).map((c) => [c.provider_id, c.provider_name]));
	for (const d of deliveries) {
		const last = d.last_http_status ? `HTTP ${d.last_http_status}` : d.last_error || '';
		body.append(
			h(
				'details',
				{ class: 'delivery delivery-' + d.status },
				h(
					'summary',
					null,
					h('span', { class: 'mono', text: d.event_type }),
					' → ',
					h('span', { text: names.get(d.provider_id) || t('event.providerN', { id: d.provider_id }) }),
					' ',
					h('span', { class: 'chip delivery-' + d.status, text: t('delivery.' + d.status) }),
					' ',
					h('span', { class: 'muted', text: t('detail.attempts', { n: d.attempts }) + (last ? ` · ${last}` : '') }),
				),
				h(
					'ol',
					{ class: 'attempts' },
					(d.attempts_log || []).map((a) =>
						h(
							'li',
							null,
							h('span', { class: 'when', text: when(a.started_at) }),
							` #${a.attempt} `,
							a.http_status ? `HTTP ${a.http_status}` : a.error || t('timeline.noAnswer'),
							a.duration_ms !== null && a.duration_ms !== undefined ? ` · ${a.duration_ms} ms` : '',
						),
					),
				),
			),
		);
	}
}
