// The live board of open calls: unmatched calls first and loud, offers
// about to expire marked, everything redrawn from the store as events come.

import { LIMITS, OPEN_STATUSES } from './config.js';
import { h, $$, clear } from './dom.js';
import { t, onLangChange } from './i18n.js';
import { when, full, minutes, countdown, secondsUntil } from './format.js';
import * as store from './store.js';
import { chip, serviceLabel } from './ui.js';

let openDetail = () => {};
let onAlert = () => {};
const el = {};

export function initBoard({ onOpenDetail, onAlertChange }) {
	openDetail = onOpenDetail;
	onAlert = onAlertChange;
	for (const id of ['board-rows', 'board-empty', 'board-summary', 'badge-open', 'badge-unmatched', 'board-stale']) {
		el[id] = document.getElementById(id);
	}
	store.subscribe((kind) => {
		if (kind !== 'providers') render();
	});
	onLangChange(render);
	render();
}

export function setStale(stale) {
	el['board-stale'].hidden = !stale;
}

// The offer out now (the earliest deadline among those offered).
function currentOffer(call) {
	return (call.candidates || [])
		.filter((c) => c.status === 'offered')
		.sort((a, b) => String(a.respond_by).localeCompare(String(b.respond_by)))[0];
}

function isSoon(call) {
	const o = currentOffer(call);
	if (!o || !o.respond_by) return false;
	const s = secondsUntil(o.respond_by);
	return s !== null && s <= LIMITS.deadlineWarnS;
}

function order(a, b) {
	const rank = (c) => (c.status === 'unmatched' ? 0 : isSoon(c) ? 1 : c.urgency === 'urgent' ? 2 : 3);
	return rank(a) - rank(b) || OPEN_STATUSES.indexOf(a.status) - OPEN_STATUSES.indexOf(b.status) || b.id - a.id;
}

function progressCell(call) {
	const td = h('td', { class: 'progress-cell' });
	if (call.status === 'unmatched') {
		td.append(h('strong', { class: 'warn-text', text: t('board.unmatched') }));
	} else if (call.status === 'accepted') {
		td.append(h('span', { text: t('board.acceptedBy', { who: call.accepted_provider?.name || '' }) }));
	} else if (call.status === 'offered') {
		const o = currentOffer(call);
		if (o) {
			td.append(
				h('span', { text: `${o.rank}. ${o.provider_name} ` }),
				h('span', { class: 'muted', text: minutes(o.travel_minutes) + ' ' }),
				h('span', { class: 'deadline' + (isSoon(call) ? ' soon' : ''), dataset: { deadline: o.respond_by || '' }, text: countdown(o.respond_by) }),
			);
		} else td.append(h('span', { class: 'muted', text: t('board.nextOffer') }));
	} else {
		td.append(h('span', { class: 'muted', text: t('board.waiting') }));
	}
	return td;
}

export function render() {
	const calls = store.openCalls().sort(order);
	const tbody = el['board-rows'];
	// Rows are rebuilt: keep the keyboard focus on the same call.
	const focused = tbody.contains(document.activeElement) ? document.activeElement.closest('tr')?.dataset.callId : null;
	clear(tbody);
	for (const c of calls) {
		const soon = isSoon(c);
		const open = (e) => openDetail(c.id, e.currentTarget.closest('tr').querySelector('button'));
		const tr = h(
			'tr',
			{
				class: ['call-row', 'row-' + c.status, soon ? 'soon' : '', c.urgency === 'urgent' ? 'urgent' : ''],
				dataset: { callId: c.id, status: c.status },
				on: { click: open },
			},
			h('td', null, h('button', { type: 'button', class: 'row-open', text: `#${c.id}`, 'aria-label': t('board.open', { id: c.id }) })),
			h('td', { class: 'when', text: when(c.created_at), title: full(c.created_at) }),
			h(
				'td',
				null,
				h('strong', { text: c.resident?.name || '' }),
				c.resident?.community ? h('span', { class: 'muted', text: ` ${c.resident.community}` }) : null,
			),
			h(
				'td',
				null,
				serviceLabel(c.service),
				c.urgency === 'urgent' ? h('span', { class: 'chip urgent', text: t('call.urgent') }) : null,
			),
			h('td', { class: 'when', text: when(c.wanted_at), title: full(c.wanted_at) }),
			h('td', null, chip('status', c.status)),
			progressCell(c),
		);
		tbody.append(tr);
	}
	el['board-empty'].hidden = calls.length > 0;
	if (focused) {
		const again = tbody.querySelector(`tr[data-call-id="${CSS.escape(focused)}"] button`);
		if (again) again.focus();
	}

	const counts = Object.fromEntries(OPEN_STATUSES.map((s) => [s, 0]));
	for (const c of calls) counts[c.status]++;
	clear(el['board-summary']);
	for (const s of OPEN_STATUSES) {
		el['board-summary'].append(
			h('span', { class: `count count-${s}` + (s === 'unmatched' && counts[s] ? ' hot' : '') }, h('b', { text: String(counts[s]) }), ' ', t('status.' + s)),
		);
	}
	el['badge-open'].textContent = String(calls.length);
	el['badge-open'].hidden = calls.length === 0;
	el['badge-unmatched'].textContent = t('board.badgeUnmatched', { n: counts.unmatched });
	el['badge-unmatched'].hidden = counts.unmatched === 0;
	onAlert(calls.filter((c) => c.status === 'unmatched'));
}

// Once a second: countdowns, and rows crossing into "about to expire".
export function tick() {
	let resort = false;
	for (const node of $$('[data-deadline]', el['board-rows'])) {
		if (!node.dataset.deadline) continue;
		node.textContent = countdown(node.dataset.deadline);
		const s = secondsUntil(node.dataset.deadline);
		const soon = s !== null && s <= LIMITS.deadlineWarnS;
		node.classList.toggle('soon', soon);
		const tr = node.closest('tr');
		if (tr && tr.classList.contains('soon') !== soon) resort = true;
	}
	if (resort) render();
}
