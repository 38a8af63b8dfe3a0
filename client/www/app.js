// careline operators' console: sign-in, the views, the live event stream,
// global keys. Plain ES modules, no build step, nothing but carelined.

import { api, ApiError, session, saveSession, dropSession, onUnauthorized } from './js/api.js';
import { startEvents } from './js/events.js';
import { h, $, $$, clear, isTyping } from './js/dom.js';
import { t, applyStatic, setLang, currentLang, onLangChange } from './js/i18n.js';
import * as store from './js/store.js';
import * as intake from './js/intake.js';
import * as board from './js/board.js';
import * as detail from './js/detail.js';
import * as providers from './js/providers.js';
import * as ringing from './js/ringing.js';
import { serviceLabel, describeEvent, errorText, showError, toast } from './js/ui.js';
import { loadSettings, dropSettings } from './js/settings.js';
import { LIMITS } from './js/config.js';

const VIEWS = ['intake', 'board', 'providers'];
let me = null;
let stream = null;
let liveState = 'connecting';
let unmatchedKey = '';
let retryTimer = null;

// ---- Sign-in and the session ---------------------------------------------

function showSignin(notice) {
	document.getElementById('app-view').hidden = true;
	document.getElementById('signin-view').hidden = false;
	const n = document.getElementById('signin-notice');
	n.textContent = notice ? t(notice) : '';
	n.hidden = !notice;
	const form = document.getElementById('signin-form');
	form.elements.password.value = '';
	(form.elements.name.value ? form.elements.password : form.elements.name).focus();
}

async function signIn(e) {
	e.preventDefault();
	const form = e.currentTarget;
	const err = document.getElementById('signin-error');
	const button = document.getElementById('signin-submit');
	showError(err, null);
	const name = form.elements.name.value.trim();
	const password = form.elements.password.value;
	if (!name || !password) {
		showError(err, t('signin.missing'));
		(name ? form.elements.password : form.elements.name).focus();
		return;
	}
	button.disabled = true;
	let wait = 0;
	try {
		const res = await api('POST', '/v1/session', { body: { name, password }, auth: false });
		saveSession({ token: res.token, operator: res.operator });
		form.elements.password.value = '';
		await enterApp(res.operator);
	} catch (ex) {
		if (ex.code === 'invalid_credentials' || ex.status === 401) showError(err, t('signin.invalid'));
		else if (ex.status === 429) {
			wait = ex.retryAfter || 30;
			showError(err, t('signin.tooMany', { s: wait }));
		} else showError(err, errorText(ex));
		form.elements.password.select();
		form.elements.password.focus();
	} finally {
		clearTimeout(retryTimer);
		if (wait) retryTimer = setTimeout(() => (button.disabled = false), wait * 1000);
		else button.disabled = false;
	}
}

function endSession(notice) {
	if (stream) stream.stop();
	stream = null;
	dropSession();
	dropSettings();
	me = null;
	ringing.dismiss(false);
	store.reset();
	unmatchedKey = '';
	renderAlert([]);
	showSignin(notice);
}

async function signOut() {
	try {
		await api('DELETE', '/v1/session');
	} catch {
		// Ended anyway: the token goes from this tab below.
	}
	if (me) endSession('signin.signedOut');
}

onUnauthorized(() => {
	if (me || session()) endSession('signin.expired');
});

// The services and matching figures first (GET /v1/config): the intake's
// choices are built from them.
async function enterApp(operator) {
	try {
		await loadSettings();
	} catch (err) {
		if (err instanceof ApiError && err.status === 401) return;
		toast(errorText(err), 'error');
	}
	me = operator;
	document.getElementById('signin-view').hidden = true;
	document.getElementById('app-view').hidden = false;
	document.getElementById('me-name').textContent = operator.name;
	renderRole();
	document.getElementById('tab-providers').hidden = operator.role !== 'admin';
	showView(viewFromHash(), false);
	stream = startEvents({ onEvent, onStatus, onUnauthorized: () => endSession('signin.expired') });
	reloadBoard();
	if (operator.role === 'admin') providers.load();
	if (currentView() === 'intake') intake.focusPhone();
}

function renderRole() {
	document.getElementById('me-role').textContent = me ? t('role.' + me.role) : '';
}

async function reloadBoard() {
	try {
		await Promise.all([store.loadOpenCalls(), loadSettings()]);
	} catch (err) {
		if (!(err instanceof ApiError && err.status === 401)) toast(errorText(err), 'error');
	}
}

// ---- Views ---------------------------------------------------------------

function viewFromHash() {
	const v = location.hash.replace(/^#/, '');
	return VIEWS.includes(v) ? v : 'intake';
}

function currentView() {
	return VIEWS.find((v) => !document.getElementById('view-' + v).hidden) || 'intake';
}

function showView(v, focus = true) {
	if (v === 'providers' && (!me || me.role !== 'admin')) v = 'intake';
	for (const name of VIEWS) {
		document.getElementById('view-' + name).hidden = name !== v;
		const tab = document.getElementById('tab-' + name);
		if (name === v) tab.setAttribute('aria-current', 'page');
		else tab.removeAttribute('aria-current');
	}
	if (location.hash !== '#' + v) history.replaceState(null, '', '#' + v);
	if (v === 'providers' && !providers.isLoaded()) providers.load();
	if (focus) {
		if (v === 'intake') intake.focusPhone();
		else document.getElementById(v === 'board' ? 'board-title' : 'providers-title').focus();
	}
}

// ---- Live events ---------------------------------------------------------

function onStatus(state, info) {
	liveState = state;
	renderLive();
	board.setStale(state === 'reconnecting');
	// Back after a gap: the stream replays from Last-Event-ID, and the
	// board is reloaded too, so nothing missed stays missed.
	if (state === 'live' && info.reconnected) reloadBoard();
}

function renderLive() {
	const node = document.getElementById('live-status');
	node.dataset.state = liveState;
	$('.live-text', node).textContent = t('live.' + liveState);
}

function onEvent(ev) {
	if (ev.type === 'call.ringing') {
		ringing.ring(ev);
		return;
	}
	if (ev.call_id) {
		store.noteEvent(ev);
		store.refreshCall(ev.call_id);
	}
	if (ev.type === 'provider.endpoint_disabled') {
		toast(describeEvent(ev, null), 'warn');
		if (me && me.role === 'admin') providers.load();
	}
	if (ev.type === 'delivery.dead' && me && me.role === 'admin' && providers.isLoaded()) providers.load();
}

// ---- Unmatched calls: the alert bar ---------------------------------------

function renderAlert(unmatched) {
	const key = unmatched.map((c) => c.id).join(',') + ':' + currentLang();
	const tab = document.getElementById('tab-board');
	document.title = (unmatched.length ? `(${unmatched.length}) ` : '') + t('app.title');
	if (key === unmatchedKey) return;
	unmatchedKey = key;
	const bar = document.getElementById('alert-bar');
	tab.classList.toggle('alerting', unmatched.length > 0);
	if (!unmatched.length) {
		bar.hidden = true;
		clear(document.getElementById('alert-calls'));
		return;
	}
	document.getElementById('alert-text').textContent = t('alert.unmatched', { n: unmatched.length });
	const calls = document.getElementById('alert-calls');
	clear(calls);
	for (const c of unmatched.slice(0, 4)) {
		calls.append(
			h('button', {
				type: 'button',
				class: 'alert-call',
				dataset: { callId: c.id },
				text: `#${c.id} ${c.resident?.name || ''} · ${serviceLabel(c.service)}`,
				on: { click: (e) => detail.open(c.id, e.currentTarget) },
			}),
		);
	}
	if (unmatched.length > 4) {
		calls.append(h('a', { href: '#board', class: 'alert-more', text: t('alert.more', { n: unmatched.length - 4 }) }));
	}
	bar.hidden = false;
}

// ---- Keys ----------------------------------------------------------------

function onKey(e) {
	if (!me) return;
	if (e.key === 'F2' || (e.key === '/' && !isTyping(e.target) && !e.ctrlKey && !e.metaKey && !e.altKey)) {
		e.preventDefault();
		if (detail.isOpen()) detail.close();
		showView('intake');
		return;
	}
	if (e.key === 'F4' && ringing.isShown()) {
		e.preventDefault();
		ringing.takeCall();
		return;
	}
	if (e.key === 'Escape' && detail.isOpen()) {
		e.preventDefault();
		detail.close();
		return;
	}
	if (currentView() === 'intake' && !detail.isOpen()) intake.handleKey(e);
}

// ---- Start ---------------------------------------------------------------

function start() {
	applyStatic();
	for (const b of $$('.lang-toggle')) {
		b.addEventListener('click', () => setLang(currentLang() === 'zh' ? 'en' : 'zh'));
	}
	onLangChange(() => {
		renderLive();
		renderRole();
		unmatchedKey = '';
		board.render();
	});
	document.getElementById('signin-form').addEventListener('submit', signIn);
	document.getElementById('signout').addEventListener('click', signOut);
	document.getElementById('board-refresh').addEventListener('click', reloadBoard);
	for (const id of ['board-title', 'providers-title']) document.getElementById(id).tabIndex = -1;
	window.addEventListener('hashchange', () => me && showView(viewFromHash()));
	document.addEventListener('keydown', onKey);

	intake.initIntake({ onOpenDetail: detail.open });
	detail.initDetail();
	board.initBoard({ onOpenDetail: detail.open, onAlertChange: renderAlert });
	providers.initProviders();
	ringing.initRinging({
		take(phone, residents) {
			if (detail.isOpen()) detail.close();
			showView('intake', false);
			intake.take(phone, residents);
		},
	});
	renderLive();
	setInterval(() => {
		if (!me) return;
		board.tick();
		intake.tick();
	}, 1000);
	setInterval(() => {
		if (me) loadSettings().catch(() => {});
	}, LIMITS.settingsRefreshMs);

	const s = session();
	if (!s || !s.token) {
		showSignin(null);
		return;
	}
	api('GET', '/v1/session')
		.then((res) => {
			const op = res.operator || s.operator;
			saveSession({ token: s.token, operator: op });
			return enterApp(op);
		})
		.catch((err) => {
			if (err instanceof ApiError && err.status === 401) return;
			showSignin(null);
			showError(document.getElementById('signin-error'), errorText(err));
		});
}

start();
