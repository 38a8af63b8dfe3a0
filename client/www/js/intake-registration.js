// A quick registration when nobody has the number: the form, a point
// picked on the plot or typed, POST /v1/residents, then the new card.

import { api, ApiError } from './api.js';
import { t } from './i18n.js';
import { errorText, showError, toast } from './ui.js';
import { state, el, view } from './intake-state.js';
import { selectResident } from './intake-lookup.js';
import { drawPlot } from './intake-progress.js';
import { render, focusPhone } from './intake.js';

export function initRegistration() {
	el['register-form'].addEventListener('submit', (e) => {
		e.preventDefault();
		register();
	});
	el['register-cancel'].addEventListener('click', () => {
		hideRegister();
		focusPhone();
	});
	for (const id of ['reg-lat', 'reg-lon']) {
		el[id].addEventListener('input', () => {
			const lat = Number.parseFloat(el['reg-lat'].value);
			const lon = Number.parseFloat(el['reg-lon'].value);
			state.pick = Number.isFinite(lat) && Number.isFinite(lon) ? { lat, lon } : null;
			drawPlot();
		});
	}
}

// A point picked on the plot, while registering.
export function pickPoint(lat, lon) {
	if (!state.registering) return;
	el['reg-lat'].value = String(lat);
	el['reg-lon'].value = String(lon);
	state.pick = { lat, lon };
	drawPlot();
}

export function showRegister({ phone = '', name = '' } = {}) {
	state.registering = true;
	state.resident = null;
	state.pick = null;
	el['register-form'].reset();
	el['reg-mobility'].value = 'walk';
	el['reg-phone'].value = phone;
	el['reg-name'].value = name;
	showError(el['register-error'], null);
	el['register-form'].hidden = false;
	view.plot.setPicking(true);
	render();
	(name ? el['reg-phone'] : el['reg-name']).focus();
}

export function hideRegister(redraw = true) {
	state.registering = false;
	state.pick = null;
	el['register-form'].hidden = true;
	view.plot.setPicking(false);
	if (redraw) render();
}

export async function register() {
	const f = el['register-form'];
	showError(el['register-error'], null);
	const v = (n) => f.elements[n].value.trim();
	for (const n of ['name', 'phone', 'address', 'lat', 'lon']) {
		if (!v(n)) {
			showError(el['register-error'], t('register.missing', { field: t('register.' + n) }));
			f.elements[n].focus();
			return;
		}
	}
	const lat = Number.parseFloat(v('lat'));
	const lon = Number.parseFloat(v('lon'));
	if (!Number.isFinite(lat) || lat < -90 || lat > 90 || !Number.isFinite(lon) || lon < -180 || lon > 180) {
		showError(el['register-error'], t('register.badCoords'));
		f.elements.lat.focus();
		return;
	}
	const body = {
		name: v('name'),
		phone: v('phone'),
		address: v('address'),
		lat,
		lon,
		mobility: f.elements.mobility.value,
		lives_alone: f.elements.lives_alone.checked,
		disabled: f.elements.disabled.checked,
		low_income: f.elements.low_income.checked,
	};
	if (v('community')) body.community = v('community');
	try {
		const r = await api('POST', '/v1/residents', { body });
		toast(t('register.done', { name: r.name }), 'ok');
		state.callerPhone = state.callerPhone || r.phone;
		state.results = [];
		selectResident(r, true);
	} catch (err) {
		if (err instanceof ApiError && err.status === 401) return;
		showError(el['register-error'], errorText(err));
		const field = err.field && f.elements[err.field];
		if (field && field.focus) field.focus();
	}
}
