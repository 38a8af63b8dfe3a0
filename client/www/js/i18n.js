// Strings: one dictionary per language (i18n/zh.js, i18n/en.js), Chinese
// (Simplified) by default. Static markup names its strings with
// data-i18n="key" (text) and data-i18n-attr="attr:key;attr:key".

import zh from '../i18n/zh.js';
import en from '../i18n/en.js';
import { STORAGE } from './config.js';

const DICTS = { zh, en };
const LOCALES = { zh: 'zh-CN', en: 'en-GB' };
const listeners = new Set();
const reported = new Set();

function stored() {
	try {
		const v = localStorage.getItem(STORAGE.lang);
		return v in DICTS ? v : 'zh';
	} catch {
		return 'zh';
	}
}

let lang = stored();

export function currentLang() {
	return lang;
}

export function locale() {
	return LOCALES[lang];
}

// t('offer.deadline', {time: '10:21'}) -> the string with {time} filled in.
export function t(key, params) {
	let s = DICTS[lang][key];
	if (s === undefined) {
		if (!reported.has(lang + ':' + key)) {
			reported.add(lang + ':' + key);
			console.error('i18n: missing string', lang, key);
		}
		s = DICTS.zh[key] ?? key;
	}
	if (params) s = s.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
	return s;
}

// t() for a key that may not exist (an error code from the server).
export function tMaybe(key, params) {
	return key in DICTS[lang] ? t(key, params) : null;
}

export function applyStatic(root = document) {
	for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
	for (const el of root.querySelectorAll('[data-i18n-attr]')) {
		for (const pair of el.dataset.i18nAttr.split(';')) {
			const [attr, key] = pair.split(':').map((s) => s.trim());
			if (attr && key) el.setAttribute(attr, t(key));
		}
	}
	document.documentElement.lang = LOCALES[lang];
	document.title = t('app.title');
}

export function setLang(next) {
	if (!(next in DICTS) || next === lang) return;
	lang = next;
	try {
		localStorage.setItem(STORAGE.lang, next);
	} catch {
		// Private mode: the choice lasts for this page.
	}
	applyStatic();
	for (const fn of listeners) fn(lang);
}

export function onLangChange(fn) {
	listeners.add(fn);
}
