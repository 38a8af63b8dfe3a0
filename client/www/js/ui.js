// Small pieces several screens share: status chips, resident flags, the
// words for an event, toasts, error messages.

import { h, clear } from './dom.js';
import { t, tMaybe } from './i18n.js';
import { when } from './format.js';
import { LIMITS } from './config.js';

export function chip(kind, status) {
	return h('span', { class: `chip ${kind}-${status}`, text: t(`${kind}.${status}`) });
}

export function serviceLabel(s) {
	return t('service.' + s);
}

export function flags(r) {
	const out = [];
	for (const f of ['lives_alone', 'disabled', 'low_income']) {
		if (r[f]) out.push(h('span', { class: 'flag flag-' + f, text: t('flag.' + f) }));
	}
	return out;
}

function providerName(call, providerId, offerId) {
	const c = (call?.candidates || []).find(
		(x) => (offerId && x.offer_id === offerId) || (providerId && x.provider_id === providerId),
	);
	if (c) return `${c.rank}. ${c.provider_name}`;
	return providerId ? t('event.providerN', { id: providerId }) : '';
}

// One line for an event of the stream (or of a call's timeline).
export function describeEvent(ev, call) {
	const d = ev.data || {};
	const who = providerName(call, d.provider_id, d.offer_id);
	switch (ev.type) {
		case 'call.created':
			return t('event.call.created', { n: d.candidates ?? '?' });
		case 'offer.offered':
			return t('event.offer.offered', { who, time: when(d.respond_by) });
		case 'offer.accepted':
			return t('event.offer.accepted', { who });
		case 'offer.declined':
			return t('event.offer.declined', { who });
		case 'offer.expired':
			return t(d.reason === 'undeliverable' ? 'event.offer.undeliverable' : 'event.offer.expired', { who });
		case 'offer.arrived':
			return t('event.offer.arrived', { who });
		case 'call.unmatched':
			return t('event.call.unmatched');
		case 'call.cancelled':
			return t('event.call.cancelled');
		case 'call.completed':
			return t('event.call.completed');
		case 'delivery.dead':
			return t('event.delivery.dead', { who, type: d.event_type || '', n: d.attempts ?? '?' });
		case 'provider.endpoint_disabled':
			return t('event.provider.endpoint_disabled', { who });
		default:
			return ev.type;
	}
}

// A person-readable message for an ApiError.
export function errorText(err) {
	if (!err) return t('error.unknown');
	if (err.status === 0) return t('error.network');
	const known = tMaybe('error.' + err.code, { field: err.field || '', message: err.message || '' });
	if (known) return known;
	if (err.status >= 500) return t('error.server');
	return err.message || t('error.unknown');
}

export function showError(el, err) {
	if (!err) {
		el.hidden = true;
		clear(el);
		return;
	}
	el.textContent = typeof err === 'string' ? err : errorText(err);
	el.hidden = false;
}

export function toast(text, kind = 'info') {
	const box = document.getElementById('toasts');
	if (!box) return;
	const el = h('div', { class: 'toast toast-' + kind, text });
	box.append(el);
	setTimeout(() => el.remove(), LIMITS.toastMs);
	while (box.childElementCount > 4) box.firstElementChild.remove();
}
