// Caller-ID screen pop: a call.ringing event (from the PBX hook, through
// carelined) shows the incoming number and the resident's card on every
// open console. The event carries ids only (it is stored and replayed):
// the number and the cards are fetched here, with this operator's own
// session. It never takes the focus from an operator mid-call: F4 (or the
// button) takes the call into the intake.

import { api } from './api.js';
import { LIMITS } from './config.js';
import { h, clear } from './dom.js';
import { t, onLangChange } from './i18n.js';
import { when, secondsUntil } from './format.js';
import { flags } from './ui.js';

const el = {};
let current = null;
let onTake = () => {};
let ringSeq = 0; // a newer ring (or a dismiss) wins over a fetch under way

export function initRinging({ take }) {
	onTake = take;
	for (const id of ['ringing', 'ringing-phone', 'ringing-time', 'ringing-residents', 'ringing-take', 'ringing-dismiss']) {
		el[id] = document.getElementById(id);
	}
	el['ringing-take'].addEventListener('click', takeCall);
	el['ringing-dismiss'].addEventListener('click', dismiss);
	el.ringing.addEventListener('keydown', (e) => {
		if (e.key === 'Escape') {
			e.stopPropagation();
			dismiss();
		}
	});
	onLangChange(() => current && render());
}

export function isShown() {
	return current !== null;
}

export async function ring(ev) {
	const d = ev.data || {};
	if (!Number.isInteger(d.ringing_id)) return;
	// A replay of an old ring (after a reconnect) is no longer a call.
	const age = ev.at ? -secondsUntil(ev.at) : 0;
	if (age > LIMITS.ringingMaxAgeS) return;
	const seq = ++ringSeq;
	let rang;
	try {
		rang = await api('GET', `/v1/ringing/${d.ringing_id}`);
	} catch {
		return;
	}
	const ids = Array.isArray(rang.resident_ids) ? rang.resident_ids : [];
	// A card that cannot be read now is left out; the number still shows.
	const cards = await Promise.all(ids.map((id) => api('GET', `/v1/residents/${id}`).catch(() => null)));
	if (seq !== ringSeq) return;
	current = { phone: String(rang.phone), residents: cards.filter(Boolean), at: ev.at || rang.at };
	render();
}

function render() {
	const { phone, residents, at } = current;
	el['ringing-phone'].textContent = phone;
	el['ringing-time'].textContent = at ? when(at) : '';
	const box = el['ringing-residents'];
	clear(box);
	if (!residents.length) box.append(h('p', { class: 'muted', text: t('ringing.unknown') }));
	for (const r of residents) {
		box.append(
			h(
				'div',
				{ class: 'ring-card' },
				h('div', { class: 'ring-name' }, h('strong', { text: r.name }), ' ', h('span', { class: 'flags' }, flags(r))),
				h('div', { text: r.address }),
				h(
					'div',
					{ class: 'muted' },
					[r.community, r.street].filter(Boolean).join(' · ') || t('resident.noCommunity'),
					' · ',
					t('mobility.' + r.mobility),
				),
			),
		);
	}
	el.ringing.hidden = false;
	document.body.classList.add('ringing-on');
}

export function takeCall() {
	if (!current) return;
	const { phone, residents } = current;
	dismiss(false);
	onTake(phone, residents);
}

export function dismiss(refocus = true) {
	const had = el.ringing.contains(document.activeElement);
	ringSeq++;
	current = null;
	el.ringing.hidden = true;
	document.body.classList.remove('ringing-on');
	clear(el['ringing-residents']);
	el['ringing-phone'].textContent = '';
	el['ringing-time'].textContent = '';
	if (refocus && had) document.getElementById('main').focus();
}
