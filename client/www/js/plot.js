// The district plot, drawn by the page itself as SVG (no map tiles): an
// equirectangular projection of the district box, the resident, the
// candidates numbered by rank, the reach (matching.max_minutes) of the
// fastest one, and the nearest mobile clinic point when a health question
// asked for it.

import { DISTRICT } from './config.js';
import { svg, clear } from './dom.js';
import { t } from './i18n.js';
import { getProvider, allProviders } from './store.js';
import { travel } from './settings.js';

const KM_PER_DEG_LAT = 110.574;
const LAT0 = (DISTRICT.latMin + DISTRICT.latMax) / 2;
const KM_PER_DEG_LON = 111.32 * Math.cos((LAT0 * Math.PI) / 180);
const W = 1000;
const UNITS_PER_KM = W / ((DISTRICT.lonMax - DISTRICT.lonMin) * KM_PER_DEG_LON);
const H = Math.round((DISTRICT.latMax - DISTRICT.latMin) * KM_PER_DEG_LAT * UNITS_PER_KM);
// Room for the axis labels: left, top, right, bottom.
const PAD = { l: 84, t: 16, r: 44, b: 50 };

export function project(lat, lon) {
	return {
		x: (lon - DISTRICT.lonMin) * KM_PER_DEG_LON * UNITS_PER_KM,
		y: (DISTRICT.latMax - lat) * KM_PER_DEG_LAT * UNITS_PER_KM,
	};
}

export function unproject(x, y) {
	return {
		lat: DISTRICT.latMax - y / UNITS_PER_KM / KM_PER_DEG_LAT,
		lon: DISTRICT.lonMin + x / UNITS_PER_KM / KM_PER_DEG_LON,
	};
}

export function inBox(lat, lon) {
	return lat >= DISTRICT.latMin && lat <= DISTRICT.latMax && lon >= DISTRICT.lonMin && lon <= DISTRICT.lonMax;
}

// Great-circle distance in km.
export function distanceKm(a, b) {
	const r = Math.PI / 180;
	const dLat = (b.lat - a.lat) * r;
	const dLon = (b.lon - a.lon) * r;
	const s = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * r) * Math.cos(b.lat * r) * Math.sin(dLon / 2) ** 2;
	return 2 * 6371.0088 * Math.asin(Math.sqrt(s));
}

// Where a candidate is: its own lat/lon when carelined sends them, else
// the provider's (known to admins).
export function candidateLocation(c) {
	if (typeof c.lat === 'number' && typeof c.lon === 'number') return { lat: c.lat, lon: c.lon };
	const p = getProvider(c.provider_id);
	return p ? { lat: p.lat, lon: p.lon } : null;
}

// A candidate's travel mode: sent, known from the provider, or read back
// from its distance and minutes (the nearest of the configured speeds).
export function candidateMode(c, resident) {
	const tr = travel();
	if (!tr) return null;
	if (c.travel_mode && tr.speedKmh[c.travel_mode]) return c.travel_mode;
	const p = getProvider(c.provider_id);
	if (p && tr.speedKmh[p.travel_mode]) return p.travel_mode;
	let km = typeof c.distance_m === 'number' ? c.distance_m / 1000 : null;
	const loc = candidateLocation(c);
	if (km === null && loc && resident) km = distanceKm(loc, resident);
	if (km === null || !(c.travel_minutes > 0)) return null;
	const v = (km * tr.detour) / (c.travel_minutes / 60);
	let best = null;
	for (const [mode, speed] of Object.entries(tr.speedKmh)) {
		if (best === null || Math.abs(speed - v) < Math.abs(tr.speedKmh[best] - v)) best = mode;
	}
	return best;
}

// The reach of the fastest candidate: radius = matching.max_minutes × speed ÷ detour.
export function reachOf(candidates, resident) {
	const tr = travel();
	if (!tr) return null;
	let mode = null;
	for (const c of candidates || []) {
		const m = candidateMode(c, resident);
		if (m && (mode === null || tr.speedKmh[m] > tr.speedKmh[mode])) mode = m;
	}
	if (!mode) return null;
	const speed = tr.speedKmh[mode];
	return { mode, speedKmh: speed, minutes: tr.maxMinutes, radiusKm: ((tr.maxMinutes / 60) * speed) / tr.detour };
}

function clampPoint(lat, lon) {
	const p = project(lat, lon);
	return { x: Math.min(Math.max(p.x, 0), W), y: Math.min(Math.max(p.y, 0), H), outside: !inBox(lat, lon) };
}

const fixed = (n) => n.toFixed(1);

function grid() {
	const g = svg('g', { class: 'plot-grid', 'aria-hidden': 'true' });
	const step = 0.01;
	for (let lat = DISTRICT.latMin; lat <= DISTRICT.latMax + 1e-9; lat += step) {
		const { y } = project(lat, DISTRICT.lonMin);
		g.append(svg('line', { x1: 0, x2: W, y1: fixed(y), y2: fixed(y) }));
		const major = Math.round(lat * 100) % 2 === 0;
		if (major) g.append(svg('text', { x: -8, y: fixed(y + 9), class: 'plot-axis plot-axis-lat', text: lat.toFixed(2) }));
	}
	for (let lon = DISTRICT.lonMin; lon <= DISTRICT.lonMax + 1e-9; lon += step) {
		const { x } = project(DISTRICT.latMin, lon);
		g.append(svg('line', { x1: fixed(x), x2: fixed(x), y1: 0, y2: H }));
		const major = Math.round(lon * 100) % 2 === 0;
		if (major) g.append(svg('text', { x: fixed(x), y: H + 34, class: 'plot-axis plot-axis-lon', text: lon.toFixed(2) }));
	}
	return g;
}

function scaleBar() {
	const len = UNITS_PER_KM;
	return svg(
		'g',
		{ class: 'plot-scale', transform: `translate(20 ${H - 24})`, 'aria-hidden': 'true' },
		svg('rect', { x: -10, y: -38, width: fixed(len + 20), height: 52, rx: 6, class: 'plot-label-bg' }),
		svg('line', { x1: 0, x2: fixed(len), y1: 0, y2: 0 }),
		svg('line', { x1: 0, x2: 0, y1: -6, y2: 6 }),
		svg('line', { x1: fixed(len), x2: fixed(len), y1: -6, y2: 6 }),
		svg('text', { x: fixed(len / 2), y: -12, text: t('plot.km') }),
	);
}

function north() {
	return svg(
		'g',
		{ class: 'plot-north', transform: `translate(${W - 30} 34)`, 'aria-hidden': 'true' },
		svg('path', { d: 'M0 -22 L9 6 L0 0 L-9 6 Z' }),
		svg('text', { x: 0, y: 32, text: 'N' }),
	);
}

// createPlot(svgEl, {onPick(lat, lon)}) -> {draw(model), setPicking(on)}
// model: {resident: {lat, lon, name}|null, candidates: [...],
//         pick: {lat, lon}|null, clinic: {lat, lon, name}|null}.
export function createPlot(el, { onPick, onSummary } = {}) {
	let picking = false;
	let last = { resident: null, candidates: [], pick: null, clinic: null };

	el.setAttribute('viewBox', `${-PAD.l} ${-PAD.t} ${W + PAD.l + PAD.r} ${H + PAD.t + PAD.b}`);
	el.setAttribute('preserveAspectRatio', 'xMidYMid meet');
	el.setAttribute('role', 'img');
	el.classList.add('plot');

	el.addEventListener('click', (e) => {
		if (!picking || !onPick) return;
		const ctm = el.getScreenCTM();
		if (!ctm) return;
		const pt = new DOMPoint(e.clientX, e.clientY).matrixTransform(ctm.inverse());
		if (pt.x < 0 || pt.x > W || pt.y < 0 || pt.y > H) return;
		const { lat, lon } = unproject(pt.x, pt.y);
		onPick(Number(lat.toFixed(5)), Number(lon.toFixed(5)));
	});

	function draw(model = last) {
		last = { resident: null, candidates: [], pick: null, clinic: null, ...model };
		const { resident, candidates, pick, clinic } = last;
		clear(el);
		const summary = [];
		el.append(svg('title', { text: t('plot.title') }));
		el.append(svg('rect', { x: 0, y: 0, width: W, height: H, class: 'plot-bg', rx: 4 }));
		el.append(grid());

		// Every provider known, faintly, for orientation.
		const faint = svg('g', { class: 'plot-providers', 'aria-hidden': 'true' });
		const shown = new Set((candidates || []).map((c) => Number(c.provider_id)));
		for (const p of allProviders()) {
			if (!p.active || shown.has(Number(p.id)) || !inBox(p.lat, p.lon)) continue;
			const q = project(p.lat, p.lon);
			faint.append(svg('circle', { cx: fixed(q.x), cy: fixed(q.y), r: 5 }));
		}
		el.append(faint);

		if (resident) {
			const reach = reachOf(candidates, resident);
			const c = clampPoint(resident.lat, resident.lon);
			if (reach && !c.outside) {
				const r = reach.radiusKm * UNITS_PER_KM;
				el.append(
					svg('clipPath', { id: 'plot-clip' }, svg('rect', { x: 0, y: 0, width: W, height: H })),
					svg('circle', { cx: fixed(c.x), cy: fixed(c.y), r: fixed(r), class: 'plot-reach', 'clip-path': 'url(#plot-clip)' }),
				);
				const label = t('plot.reach', { min: reach.minutes, mode: t('mode.' + reach.mode), km: reach.radiusKm.toFixed(1) });
				// Inside the box, above the circle if there is room, else below.
				const ly = c.y - r - 12 > 30 ? c.y - r - 12 : c.y + r + 34 < H - 60 ? c.y + r + 34 : H - 60;
				const lx = Math.min(Math.max(c.x, 260), W - 260);
				el.append(svg('text', { x: fixed(lx), y: fixed(ly), class: 'plot-reach-label', text: label }));
				summary.push(label);
			}
			const ordered = [...(candidates || [])].sort((a, b) => b.rank - a.rank);
			const links = svg('g', { class: 'plot-links', 'aria-hidden': 'true' });
			const marks = svg('g', { class: 'plot-candidates' });
			for (const cand of ordered) {
				const loc = candidateLocation(cand);
				if (!loc) continue;
				const q = clampPoint(loc.lat, loc.lon);
				links.append(svg('line', { x1: fixed(c.x), y1: fixed(c.y), x2: fixed(q.x), y2: fixed(q.y), class: 'plot-link status-' + (cand.status || 'preview') }));
				marks.append(
					svg(
						'g',
						{ class: 'plot-candidate status-' + (cand.status || 'preview'), transform: `translate(${fixed(q.x)} ${fixed(q.y)})` },
						svg('title', { text: `${cand.rank}. ${cand.provider_name}` }),
						svg('circle', { r: 24 }),
						svg('text', { y: 10, text: String(cand.rank) }),
					),
				);
			}
			el.append(links, marks);
			if (clinic && inBox(clinic.lat, clinic.lon)) {
				// A pin with a cross: its tip on the point, so the resident's
				// mark (usually a few metres away) does not hide it.
				const q = project(clinic.lat, clinic.lon);
				el.append(
					svg(
						'g',
						{ class: 'plot-clinic', transform: `translate(${fixed(q.x)} ${fixed(q.y)})` },
						svg('title', { text: t('plot.clinicAt', { name: clinic.name || '' }) }),
						svg('path', { class: 'stem', d: 'M0 0 L-8 -20 H8 Z' }),
						svg('rect', { x: -18, y: -54, width: 36, height: 36, rx: 7 }),
						svg('path', { class: 'cross', d: 'M-4 -47 h8 v7 h7 v8 h-7 v7 h-8 v-7 h-7 v-8 h7 Z' }),
					),
				);
				summary.push(t('plot.clinicAt', { name: clinic.name || '' }));
			}
			el.append(
				svg(
					'g',
					{ class: 'plot-resident' + (c.outside ? ' outside' : ''), transform: `translate(${fixed(c.x)} ${fixed(c.y)})` },
					svg('title', { text: resident.name || t('plot.resident') }),
					svg('circle', { r: 17, class: 'halo' }),
					svg('circle', { r: 9, class: 'dot' }),
				),
			);
			if (c.outside) {
				el.append(svg('text', { x: fixed(Math.min(Math.max(c.x, 120), W - 120)), y: fixed(Math.min(Math.max(c.y + 44, 40), H - 10)), class: 'plot-note', text: t('plot.outside') }));
				summary.push(t('plot.outside'));
			}
			const placed = (candidates || []).filter((x) => candidateLocation(x)).length;
			if ((candidates || []).length && !placed) summary.push(t('plot.noLocations'));
		}

		if (pick) {
			const q = clampPoint(pick.lat, pick.lon);
			el.append(
				svg(
					'g',
					{ class: 'plot-pick', transform: `translate(${fixed(q.x)} ${fixed(q.y)})` },
					svg('path', { d: 'M0 0 L-12 -30 A14 14 0 1 1 12 -30 Z' }),
					svg('circle', { cy: -34, r: 5, class: 'hole' }),
				),
			);
		}
		el.append(scaleBar(), north());
		el.setAttribute('aria-label', [t('plot.title'), ...summary].join(' · '));
		if (onSummary) onSummary(summary);
	}

	return {
		draw,
		setPicking(on) {
			picking = on;
			el.classList.toggle('picking', on);
		},
	};
}
