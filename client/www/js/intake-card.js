// The resident's card: the facts, the estate and WeChat group (the
// context), the last calls, and the answer to a health question (H): the
// nearest mobile clinic point and its next session.

import { api, ApiError } from './api.js';
import { LIMITS } from './config.js';
import { h, clear } from './dom.js';
import { t, tMaybe } from './i18n.js';
import { when, full, session, weekdayName, distance } from './format.js';
import { chip, flags, errorText, serviceLabel } from './ui.js';
import { state, el, latest } from './intake-state.js';
import { drawPlot } from './intake-progress.js';

export async function loadHistory() {
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
export async function loadContext() {
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
export async function askClinic() {
	const r = state.resident;
	if (!r) return;
	const seq = ++latest.clinic;
	state.clinic = { loading: true };
	renderCard();
	try {
		const data = await api('GET', '/v1/clinics/nearest', { query: { resident_id: r.id } });
		if (seq !== latest.clinic || state.resident !== r) return;
		state.clinic = data && data.clinic ? { data } : { error: null };
		if (state.clinic.data) {
			el.announcer.textContent = t('clinic.said', {
				name: data.clinic.name,
				distance: distance(data.clinic.distance_m),
				next: data.next_visit ? session(data.next_visit, data.next_visit_ends) : t('clinic.noNext'),
			});
		}
	} catch (err) {
		if (seq !== latest.clinic || state.resident !== r) return;
		if (err instanceof ApiError && err.status === 401) return;
		state.clinic = { error: err };
	}
	renderCard();
	drawPlot();
}

export function renderCard() {
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
