// Providers (admins): the register, adding one, deactivating one, and the
// health of their webhook endpoints (with the dead deliveries).

import { api, ApiError } from './api.js';
import { TRAVEL_MODES } from './config.js';
import { services, onSettings } from './settings.js';
import { h, clear } from './dom.js';
import { t, onLangChange } from './i18n.js';
import { when, full } from './format.js';
import * as store from './store.js';
import { errorText, showError, toast, serviceLabel } from './ui.js';

const el = {};
let armed = null; // the provider whose "deactivate" asks for confirmation
let dead = null;
let loaded = false;

export function initProviders() {
	for (const id of [
		'providers-rows', 'providers-summary', 'provider-form', 'provider-error', 'provider-secret', 'providers-add-toggle',
		'provider-cancel', 'providers-refresh', 'pv-services', 'pv-mode', 'dead-list',
	]) {
		el[id] = document.getElementById(id);
	}
	buildOptions();
	onLangChange(() => {
		buildOptions();
		render();
	});
	onSettings(() => buildOptions());
	el['providers-add-toggle'].addEventListener('click', () => toggleForm(el['provider-form'].hidden));
	el['provider-cancel'].addEventListener('click', () => toggleForm(false));
	el['providers-refresh'].addEventListener('click', () => load());
	el['provider-form'].addEventListener('submit', (e) => {
		e.preventDefault();
		create();
	});
	store.subscribe((kind) => {
		if (kind === 'providers' || kind === 'reset') render();
		if (kind === 'reset') {
			loaded = false;
			dead = null;
			el['provider-secret'].hidden = true;
			clear(el['provider-secret']);
		}
	});
}

function buildOptions() {
	const checked = new Set(Array.from(el['pv-services'].querySelectorAll('input:checked'), (i) => i.value));
	clear(el['pv-services']);
	for (const s of services()) {
		el['pv-services'].append(
			h('label', null, h('input', { type: 'checkbox', name: 'services', value: s, checked: checked.has(s) }), ' ', serviceLabel(s)),
		);
	}
	const mode = el['pv-mode'].value || 'ebike';
	clear(el['pv-mode']);
	for (const m of TRAVEL_MODES) el['pv-mode'].append(h('option', { value: m, text: t('mode.' + m), selected: m === mode }));
}

function toggleForm(on) {
	el['provider-form'].hidden = !on;
	el['providers-add-toggle'].setAttribute('aria-expanded', on ? 'true' : 'false');
	if (on) document.getElementById('pv-name').focus();
	else el['providers-add-toggle'].focus();
}

// Every provider, page by page (admins only).
export async function load() {
	const all = [];
	let cursor = null;
	try {
		do {
			const page = await api('GET', '/v1/providers', { query: { limit: 200, cursor } });
			all.push(...(page.items || []));
			cursor = page.next_cursor;
		} while (cursor);
		store.setProviders(all);
		loaded = true;
	} catch (err) {
		if (!(err instanceof ApiError && err.status === 401)) toast(errorText(err), 'error');
	}
	loadDead();
}

export function isLoaded() {
	return loaded;
}

async function loadDead() {
	try {
		const res = await api('GET', '/v1/deliveries', { query: { status: 'dead', limit: 20 } });
		dead = res.items || [];
	} catch (err) {
		dead = err;
	}
	renderDead();
}

function health(p) {
	if (!p.webhook_url) return h('span', { class: 'health health-none', text: t('health.none') });
	if (p.endpoint_disabled_at) {
		return h('span', { class: 'health health-disabled', title: full(p.endpoint_disabled_at), text: t('health.disabled', { time: when(p.endpoint_disabled_at) }) });
	}
	if (p.endpoint_failing_since) {
		return h('span', { class: 'health health-failing', title: full(p.endpoint_failing_since), text: t('health.failing', { time: when(p.endpoint_failing_since) }) });
	}
	return h('span', { class: 'health health-ok', text: t('health.ok') });
}

function render() {
	const tbody = el['providers-rows'];
	const focusedId = tbody.contains(document.activeElement) ? document.activeElement.dataset.providerId : null;
	clear(tbody);
	const list = store.allProviders();
	let active = 0;
	let failing = 0;
	for (const p of list) {
		if (p.active) active++;
		if (p.endpoint_disabled_at || p.endpoint_failing_since) failing++;
		const isArmed = armed === p.id;
		const action = p.active
			? h('button', {
					type: 'button',
					class: isArmed ? 'danger small' : 'ghost small',
					dataset: { providerId: p.id },
					'aria-label': t(isArmed ? 'providers.confirmDeactivateN' : 'providers.deactivateN', { name: p.name }),
					text: t(isArmed ? 'providers.confirmDeactivate' : 'providers.deactivate'),
					on: { click: () => deactivate(p) },
				})
			: h('span', { class: 'muted', text: t('providers.inactive') });
		tbody.append(
			h(
				'tr',
				{ class: p.active ? '' : 'inactive', dataset: { providerId: p.id } },
				h('td', { text: String(p.id) }),
				h('td', null, h('strong', { text: p.name }), p.phone ? h('div', { class: 'muted', text: p.phone }) : null),
				h('td', { text: (p.services || []).map(serviceLabel).join('、') }),
				h('td', { text: t('mode.' + p.travel_mode) }),
				h('td', { class: 'num', text: String(p.capacity) }),
				h('td', { class: 'mono', text: p.opening_hours }),
				h('td', null, health(p)),
				h('td', null, action),
			),
		);
	}
	clear(el['providers-summary']);
	el['providers-summary'].append(
		h('span', { class: 'count' }, h('b', { text: String(list.length) }), ' ', t('providers.total')),
		h('span', { class: 'count' }, h('b', { text: String(active) }), ' ', t('providers.active')),
		h('span', { class: 'count' + (failing ? ' hot' : '') }, h('b', { text: String(failing) }), ' ', t('providers.failing')),
	);
	if (focusedId) tbody.querySelector(`button[data-provider-id="${CSS.escape(focusedId)}"]`)?.focus();
	renderDead();
}

function renderDead() {
	const box = el['dead-list'];
	clear(box);
	if (dead === null) return;
	if (dead instanceof Error) {
		box.append(h('p', { class: 'form-error', text: errorText(dead) }));
		return;
	}
	if (!dead.length) {
		box.append(h('p', { class: 'muted', text: t('providers.noDead') }));
		return;
	}
	const ul = h('ul', { class: 'dead' });
	for (const d of dead) {
		ul.append(
			h(
				'li',
				null,
				h('span', { class: 'when', text: when(d.created_at), title: full(d.created_at) }),
				' ',
				h('span', { class: 'mono', text: d.event_type }),
				' → ',
				h('strong', { text: d.provider_name || t('event.providerN', { id: d.provider_id }) }),
				' ',
				h('span', { class: 'muted', text: t('detail.attempts', { n: d.attempts }) + (d.last_http_status ? ` · HTTP ${d.last_http_status}` : d.last_error ? ` · ${d.last_error}` : '') }),
				d.call_id ? h('span', { class: 'muted', text: ` · #${d.call_id}` }) : null,
			),
		);
	}
	box.append(ul);
}

async function deactivate(p) {
	if (armed !== p.id) {
		armed = p.id;
		render();
		return;
	}
	armed = null;
	try {
		const updated = await api('POST', `/v1/providers/${p.id}/deactivate`);
		store.upsertProvider(updated);
		toast(t('providers.deactivated', { name: updated.name }), 'ok');
	} catch (err) {
		if (!(err instanceof ApiError && err.status === 401)) toast(errorText(err), 'error');
		render();
	}
}

async function create() {
	const f = el['provider-form'];
	showError(el['provider-error'], null);
	const v = (n) => f.elements[n].value.trim();
	const services = Array.from(f.querySelectorAll('input[name=services]:checked'), (i) => i.value);
	const lat = Number.parseFloat(v('lat'));
	const lon = Number.parseFloat(v('lon'));
	const capacity = Number.parseInt(v('capacity'), 10);
	if (!v('name') || !services.length || !Number.isFinite(lat) || !Number.isFinite(lon) || !(capacity >= 1) || !v('opening_hours')) {
		showError(el['provider-error'], t('providers.incomplete'));
		return;
	}
	const body = { name: v('name'), services, lat, lon, travel_mode: f.elements.travel_mode.value, capacity, opening_hours: v('opening_hours') };
	if (v('phone')) body.phone = v('phone');
	if (v('webhook_url')) body.webhook_url = v('webhook_url');
	try {
		const p = await api('POST', '/v1/providers', { body });
		const secret = p.webhook_secret;
		delete p.webhook_secret;
		store.upsertProvider(p);
		f.reset();
		buildOptions();
		toggleForm(false);
		const box = el['provider-secret'];
		clear(box);
		box.append(h('p', { text: t('providers.created', { name: p.name, id: p.id }) }));
		if (secret) {
			box.append(h('p', { text: t('providers.secretOnce') }), h('code', { class: 'secret', text: secret }));
		}
		box.append(h('button', { type: 'button', class: 'ghost small', text: t('common.close'), on: { click: () => { box.hidden = true; clear(box); } } }));
		box.hidden = false;
	} catch (err) {
		if (err instanceof ApiError && err.status === 401) return;
		showError(el['provider-error'], errorText(err));
		const field = err.field && f.elements[err.field];
		if (field && field.focus) field.focus();
	}
}
