// The call's progress, live: its status line, the ranked candidates and
// their offers with countdowns, the last events, and the plot.

import { LIMITS } from './config.js';
import { h, $$, clear } from './dom.js';
import { t } from './i18n.js';
import { when, minutes, countdown, secondsUntil } from './format.js';
import { chip, describeEvent, errorText, serviceLabel } from './ui.js';
import * as store from './store.js';
import { state, el, view } from './intake-state.js';
import { newCall } from './intake.js';

let lastSaid = '';

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

export function renderProgress() {
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
				h('button', { type: 'button', class: 'ghost small', text: t('progress.detail'), on: { click: (e) => view.openDetail(call.id, e.currentTarget) } }),
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

export function drawPlot() {
	if (!view.plot) return;
	if (state.registering) {
		el['legend-clinic'].hidden = true;
		view.plot.draw({ resident: null, candidates: [], pick: state.pick });
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
	view.plot.draw({ resident: r ? { lat: r.lat, lon: r.lon, name: r.name } : null, candidates, pick: null, clinic });
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
