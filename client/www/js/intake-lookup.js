// The caller's number (or a name) -> the residents it may be: one is
// taken at once, several are offered as a list, none opens a
// registration.

import { api, ApiError } from './api.js';
import { h, $, clear } from './dom.js';
import { t } from './i18n.js';
import { errorText, showError } from './ui.js';
import { state, el, latest } from './intake-state.js';
import { showRegister, hideRegister } from './intake-registration.js';
import { loadHistory, loadContext } from './intake-card.js';
import { focusServiceGroup, schedulePreview } from './intake-form.js';
import { render, newCall } from './intake.js';

export function initLookup() {
	el['lookup-form'].addEventListener('submit', (e) => {
		e.preventDefault();
		lookup(el['lookup-q'].value);
	});
}

export async function lookup(raw) {
	const q = raw.trim();
	showError(el['lookup-error'], null);
	if (!q) {
		showError(el['lookup-error'], t('lookup.empty'));
		return;
	}
	const phoneLike = /^[\s+()\d-]+$/.test(q);
	const seq = ++latest.lookup;
	try {
		const res = await api('GET', '/v1/residents', { query: phoneLike ? { phone: q } : { name: q } });
		if (seq !== latest.lookup) return;
		newCall(false, true);
		state.callerPhone = phoneLike ? q : '';
		showResults(res.items || [], phoneLike ? q : '', false, phoneLike ? '' : q);
	} catch (err) {
		if (seq !== latest.lookup || (err instanceof ApiError && err.status === 401)) return;
		showError(el['lookup-error'], err.code === 'invalid_phone' || err.code === 'invalid_parameter' ? t('lookup.badPhone') : errorText(err));
	}
}

export function showResults(items, phone, fromRinging, name = '') {
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

export function selectResident(r, focusService = false) {
	state.resident = r;
	state.results = state.results.length > 1 ? state.results : [];
	state.registering = false;
	state.history = null;
	state.context = null;
	state.clinic = null;
	state.preview = null;
	latest.clinic++;
	hideRegister(false);
	render();
	loadHistory();
	loadContext();
	schedulePreview();
	if (focusService) focusServiceGroup();
}

export function renderResults() {
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
