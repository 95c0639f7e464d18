// Tasks: the bar at the bottom that follows what this browser started
// (polling /api/tasks/{id} until it ends), and the task log page.
import { get, path } from './api.js';
import { h, fill, $, fmtTime } from './dom.js';
import { toast } from './notify.js';

const POLL_MS = 1000;
const followed = new Map();	/* id -> {row, done: Promise} */

function statusClass(t) {
	if (!t || t.status === 'running') return 'running';
	return t.status === 'OK' ? 'ok' : 'failed';
}

function taskRow(id, label) {
	return h('div', { class: 'task running', dataset: { task: id } },
		h('span', { class: 'task-label' }, label),
		h('progress', { class: 'task-progress', max: 1 }),
		h('span', { class: 'task-status' }, 'running'),
		h('button', { class: 'task-close', title: 'Hide', onclick: (e) => e.target.closest('.task').remove() }, '×'));
}

function showState(row, t) {
	row.className = 'task ' + statusClass(t);
	row.dataset.status = t.status;
	const prog = row.querySelector('.task-progress');
	if (typeof t.progress === 'number') prog.value = t.progress;
	else if (t.status === 'running') prog.removeAttribute('value');
	else prog.value = 1;
	/* On failure the status is the error line: show it whole. */
	row.querySelector('.task-status').textContent = t.status === 'running' ? 'running' : t.status;
}

/*
 * Follow a task in the bar; resolves to the finished task object (status
 * "OK" or the error line). Rejects only if the task cannot be read.
 */
export function follow(id, label) {
	if (followed.has(id)) return followed.get(id).done;
	const row = taskRow(id, label || id);
	$('#taskbar-list').prepend(row);
	$('#taskbar').hidden = false;
	const done = new Promise((resolve, reject) => {
		const tick = async () => {
			let t;
			try {
				t = await get(path`/api/tasks/${id}`);
			} catch (e) {
				row.className = 'task failed';
				row.querySelector('.task-status').textContent = e.message;
				reject(e);
				return;
			}
			showState(row, t);
			if (t.status === 'running' || t.endtime === null) {
				setTimeout(tick, POLL_MS);
				return;
			}
			if (t.status !== 'OK') toast(`${label}: ${t.status}`, 'error');
			resolve(t);
		};
		tick();
	});
	followed.set(id, { row, done });
	return done;
}

/* Follow and throw the task's error line if it failed, for await chains. */
export async function finished(id, label) {
	const t = await follow(id, label);
	if (t.status !== 'OK') throw new Error(t.status);
	return t;
}

/* The Tasks page: the server's task list; a click shows that task's log. */
export function renderTasks(root) {
	const list = h('tbody');
	const log = h('pre', { id: 'task-log', class: 'log' });
	const title = h('h3', { id: 'task-log-title' }, 'Select a task to see its log');
	fill(root,
		h('h2', {}, 'Tasks'),
		h('table', { id: 'task-list', class: 'grid' },
			h('thead', {}, h('tr', {}, ['Start', 'End', 'Type', 'Target', 'User', 'Status'].map((c) => h('th', {}, c)))),
			list),
		title, log);
	const showLog = async (id) => {
		try {
			const t = await get(path`/api/tasks/${id}`);
			title.textContent = `Task ${t.type} ${t.target || ''}: ${t.status}`;
			log.textContent = (t.log || []).join('\n');
		} catch (e) {
			log.textContent = e.message;
		}
	};
	const refresh = async () => {
		let tasks;
		try {
			tasks = await get('/api/tasks');
		} catch (e) {
			return;
		}
		fill(list, tasks.map((t) => h('tr', { class: 'clickable ' + statusClass(t), dataset: { task: t.id }, onclick: () => showLog(t.id) },
			h('td', {}, fmtTime(t.starttime)), h('td', {}, t.endtime ? fmtTime(t.endtime) : '-'),
			h('td', {}, t.type), h('td', {}, t.target || ''), h('td', {}, t.user || ''),
			h('td', { class: 'status' }, t.status))));
	};
	refresh();
	const timer = setInterval(refresh, 3000);
	return { destroy: () => clearInterval(timer) };
}
