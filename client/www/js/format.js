// Times in the district's local form (Asia/Shanghai), minutes, countdowns.

import { DISTRICT } from './config.js';
import { locale, t } from './i18n.js';
import { serverNow } from './api.js';

const cache = new Map();

function fmt(kind) {
	const key = locale() + ':' + kind;
	let f = cache.get(key);
	if (!f) {
		const base = { timeZone: DISTRICT.timeZone, hourCycle: 'h23' };
		const opts = {
			time: { ...base, hour: '2-digit', minute: '2-digit', second: '2-digit' },
			short: { ...base, hour: '2-digit', minute: '2-digit' },
			date: { ...base, month: '2-digit', day: '2-digit' },
			full: { ...base, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' },
			day: { timeZone: DISTRICT.timeZone, year: 'numeric', month: '2-digit', day: '2-digit' },
			weekday: { timeZone: DISTRICT.timeZone, weekday: 'short' },
			// Names of ISO weekdays (below), read from UTC dates.
			dow: { timeZone: 'UTC', weekday: 'short' },
		}[kind];
		f = new Intl.DateTimeFormat(locale(), opts);
		cache.set(key, f);
	}
	return f;
}

function parse(iso) {
	if (!iso) return null;
	const d = new Date(iso);
	return Number.isNaN(d.getTime()) ? null : d;
}

function sameDay(a, b) {
	return fmt('day').format(a) === fmt('day').format(b);
}

// "10:21:03" today, "11-28 10:21" another day.
export function when(iso) {
	const d = parse(iso);
	if (!d) return '—';
	if (sameDay(d, new Date(serverNow()))) return fmt('time').format(d);
	return fmt('date').format(d) + ' ' + fmt('short').format(d);
}

// "2026-11-29 10:21" (tooltips, detail).
export function full(iso) {
	const d = parse(iso);
	return d ? fmt('full').format(d) : '—';
}

// A session in the district's local form: "今天 周五 08:30–11:30",
// "12/04 周五 08:30–11:30" another day.
export function session(startIso, endIso) {
	const a = parse(startIso);
	if (!a) return '—';
	const now = serverNow();
	let day = fmt('date').format(a);
	if (sameDay(a, new Date(now))) day = t('clinic.today');
	else if (sameDay(a, new Date(now + 24 * 3600 * 1000))) day = t('clinic.tomorrow');
	const b = parse(endIso);
	return `${day} ${fmt('weekday').format(a)} ${fmt('short').format(a)}${b ? '–' + fmt('short').format(b) : ''}`;
}

// An ISO weekday (1 = Monday … 7 = Sunday) by name: "周一", "Mon".
export function weekdayName(dow) {
	// 1 January 2024 was a Monday.
	return fmt('dow').format(new Date(Date.UTC(2024, 0, Number(dow))));
}

// "350 m", "1.2 km".
export function distance(m) {
	const n = Number(m);
	if (m === null || m === undefined || !Number.isFinite(n)) return '—';
	return n < 1000 ? t('unit.m', { n: Math.round(n) }) : t('unit.km', { n: (n / 1000).toFixed(1) });
}

export function minutes(n) {
	if (n === null || n === undefined || Number.isNaN(Number(n))) return '—';
	return t('unit.minutes', { n: Number(n).toFixed(1) });
}

// Seconds from now until iso (negative once past).
export function secondsUntil(iso) {
	const d = parse(iso);
	return d ? Math.round((d.getTime() - serverNow()) / 1000) : null;
}

export function countdown(iso) {
	const s = secondsUntil(iso);
	if (s === null) return '';
	if (s <= 0) return t('offer.due');
	const m = Math.floor(s / 60);
	const r = String(s % 60).padStart(2, '0');
	return t('offer.left', { t: `${m}:${r}` });
}

// The value of a datetime-local field, read as district time, as RFC 3339.
export function localInputToRfc3339(value) {
	if (!value) return null;
	const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(:\d{2})?$/.exec(value);
	if (!m) return null;
	return `${m[1]}T${m[2]}${m[3] || ':00'}${DISTRICT.utcOffset}`;
}
