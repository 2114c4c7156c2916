// Real-browser test of lesson 00: open it in a running JupyterLab with the system Chromium,
// run all cells from the Run menu, and check what a learner sees.
//
// Started by tests/test_browser.py, which starts (and stops) the JupyterLab server.
// Environment:
//   LAB_URL     base URL of the server, e.g. http://127.0.0.1:8888   (required)
//   LAB_TOKEN   its token                                              (required)
//   NOTEBOOK    notebook path under the server's root, default 00_setup.ipynb
//   EXPECT      "student" (stubs: a check prints "✗ NN.name: not implemented yet")
//               or "solution" (a check prints "✓ NN.name: passed"), default student
//   SCREENSHOT  where to write the full-page PNG, default ./lesson00.png
//   CHROMIUM    the browser executable, default /usr/bin/chromium (never a downloaded one)
//   BUDGET_S    overall time budget in seconds, default 210
// Exit status 0 when every assertion holds, 1 otherwise (the reasons are printed).
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const LAB_URL = (process.env.LAB_URL || '').replace(/\/$/, '');
const TOKEN = process.env.LAB_TOKEN || '';
const NOTEBOOK = process.env.NOTEBOOK || '00_setup.ipynb';
const EXPECT = process.env.EXPECT || 'student';
const SCREENSHOT = path.resolve(process.env.SCREENSHOT || 'lesson00.png');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const BUDGET_MS = 1000 * Number(process.env.BUDGET_S || 210);

// Playwright adds --headless (headless: true) and --user-data-dir (the fresh temp dir given to
// launchPersistentContext); the rest are ours.
const FLAGS = [
  '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--no-first-run', '--disable-sync', '--disable-quic', '--disable-dev-shm-usage',
  // No network at run time: only the local server resolves.
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];

// Generic JupyterLab / ipywidgets selectors (no cell index, no lesson text).
const SEL = {
  panel: '.jp-NotebookPanel',
  cell: '.jp-Cell',
  codeCell: '.jp-CodeCell',
  indicator: '.jp-Notebook-ExecutionIndicator',
  output: '.jp-OutputArea-output',
  stderr: '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]',
  slider: '.widget-slider',
  handle: '.noUi-handle',
  track: '.noUi-target',
  readout: '.widget-readout',
};
const FEEDBACK = /[✓✗] \d\d\.[A-Za-z_]\w*/;
const EXPECTED_FEEDBACK = EXPECT === 'solution'
  ? /✓ \d\d\.[A-Za-z_]\w*: passed/
  : /✗ \d\d\.[A-Za-z_]\w*: not implemented yet/;
const ERROR_TEXT = /Traceback|^\s*\w*(Error|Exception)\b|\b\w+(Error|Exception): /m;

const t0 = Date.now();
const deadline = t0 + BUDGET_MS;
const left = (cap) => Math.max(1000, Math.min(cap, deadline - Date.now()));
const stamp = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
const log = (msg) => console.log(`[browser ${stamp()}] ${msg}`);

// Runs in the page. mode 'ready': true when the notebook's kernel is connected and idle.
// mode 'done': true when some code cell has run, none is running or queued and the kernel is idle
// (seen twice in a row). Either mode returns a string (truthy: ends the wait) when a dialog is open.
function notebookState(mode) {
  const dialog = document.querySelector('.jp-Dialog');
  if (dialog) return `a dialog is open: ${dialog.innerText.replace(/\s+/g, ' ').slice(0, 300)}`;
  const app = window.jupyterapp;
  if (!app) return false; // not yet started (or the server lacks --expose-app-in-browser: see below)
  const nb = [app.shell.currentWidget, ...app.shell.widgets('main')]
    .find((w) => w && w.content && w.content.model && w.sessionContext);
  if (!nb) return false;
  const kernel = nb.sessionContext.session && nb.sessionContext.session.kernel;
  const idle = Boolean(kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle');
  if (mode === 'ready') return idle;
  const code = Array.from(nb.content.model.cells).filter((c) => c.type === 'code');
  const ok = idle && code.some((c) => c.executionCount != null) && !code.some((c) => c.executionState === 'running');
  window.__courseIdleSeen = ok ? (window.__courseIdleSeen || 0) + 1 : 0;
  return window.__courseIdleSeen >= 2;
}

async function main() {
  if (!LAB_URL || !TOKEN) throw new Error('LAB_URL and LAB_TOKEN must be set (tests/test_browser.py sets them)');
  const failures = [];
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'course-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM, headless: true, args: FLAGS,
      viewport: { width: 1280, height: 1000 }, timeout: left(60000),
    });
    const page = context.pages()[0] || await context.newPage();
    const pageErrors = [];
    page.on('pageerror', (err) => pageErrors.push(String(err)));

    const url = `${LAB_URL}/lab/tree/${NOTEBOOK.split('/').map(encodeURIComponent).join('/')}?token=${TOKEN}`;
    log(`opening ${url.replace(TOKEN, '<token>')}`);
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout: left(60000) });
    const panel = page.locator(SEL.panel).first();
    await panel.locator(SEL.cell).first().waitFor({ timeout: left(90000) });
    // The kernel is ready when the notebook's session has a connected, idle kernel (JupyterLab's
    // public SessionContext, exposed by the server's --expose-app-in-browser). The toolbar's
    // execution indicator says "idle" before any kernel exists: it is not enough.
    const ready = await (await page.waitForFunction(notebookState, 'ready', { timeout: left(90000), polling: 250 })
      .catch(async (err) => {
        if (!await page.evaluate(() => Boolean(window.jupyterapp))) {
          throw new Error('window.jupyterapp is missing: start JupyterLab with --LabApp.expose_app_in_browser=True');
        }
        throw err;
      })).jsonValue();
    if (ready !== true) throw new Error(`while the notebook opened: ${ready}`);
    const nCode = await panel.locator(SEL.codeCell).count();
    log(`notebook open, kernel connected and idle, ${nCode} code cells`);

    // Run > Run All Cells, as a learner would.
    await page.locator('.lm-MenuBar-itemLabel', { hasText: /^Run$/ }).click({ timeout: left(30000) });
    await page.locator('.lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel', { hasText: /^Run All Cells$/ })
      .click({ timeout: left(30000) });
    log('Run > Run All Cells clicked');

    // Done when a cell ran, none is queued or running and the kernel is idle, twice in a row
    // (a failing cell makes the kernel abort the rest: that also ends the wait). A dialog ends it too.
    const end = await (await page.waitForFunction(notebookState, 'done', { timeout: left(180000), polling: 500 })).jsonValue();
    if (end !== true) throw new Error(`while the cells ran: ${end}`);
    log('all cells finished');

    // 1. Every non-empty code cell has an execution count.
    const notRun = await panel.locator(SEL.codeCell).evaluateAll((cells) => cells.map((c, i) => {
      const src = (c.querySelector('.jp-InputArea-editor')?.textContent || '').trim();
      const prompt = c.querySelector('.jp-InputArea-prompt')?.textContent || '';
      return src && !/\[\d+\]/.test(prompt) ? `code cell ${i + 1} (${prompt.trim() || 'no prompt'}): ${src.slice(0, 60)}` : null;
    }).filter(Boolean));
    if (notRun.length) failures.push(`${notRun.length} code cell(s) did not run:\n    ${notRun.join('\n    ')}`);

    // 2. No cell shows an error (tracebacks are rendered as stderr outputs).
    const errors = (await panel.locator(SEL.stderr).allInnerTexts()).filter((t) => ERROR_TEXT.test(t));
    if (errors.length) failures.push(`${errors.length} error output(s):\n    ${errors.map((t) => t.slice(0, 400)).join('\n    ')}`);
    const widgetErrors = (await panel.locator(SEL.output).allInnerTexts())
      .filter((t) => /Error displaying widget|Failed to load model class|model not found/.test(t));
    if (widgetErrors.length) failures.push(`widget rendering failed: ${widgetErrors.map((t) => t.slice(0, 200)).join(' | ')}`);

    // 3. A self-check prints its feedback.
    const outputs = await panel.locator(SEL.output).allInnerTexts();
    const feedback = outputs.filter((t) => FEEDBACK.test(t));
    if (!feedback.length) failures.push('no self-check feedback ("✓/✗ NN.name: ...") in any output');
    else if (!feedback.some((t) => EXPECTED_FEEDBACK.test(t))) {
      failures.push(`no feedback matches ${EXPECTED_FEEDBACK} (EXPECT=${EXPECT}); got: ${feedback.map((t) => t.slice(0, 120)).join(' | ')}`);
    } else log(`self-check feedback: ${feedback.find((t) => EXPECTED_FEEDBACK.test(t)).split('\n').find((l) => EXPECTED_FEEDBACK.test(l))}`);

    // 4. The slider renders as a widget, and moving it redraws the figure.
    const sliderCell = panel.locator(SEL.codeCell, { has: page.locator(SEL.slider) }).first();
    if (await panel.locator(SEL.slider).count() === 0) {
      failures.push('no ipywidgets slider (.widget-slider) rendered');
    } else {
      await sliderCell.scrollIntoViewIfNeeded({ timeout: left(20000) });
      const cellHandle = await sliderCell.elementHandle();
      const figure = (cell) => {
        const img = cell.querySelector('.jp-OutputArea-output img');
        if (img && img.src) return img.src;
        const canvas = cell.querySelector('.jp-OutputArea-output canvas');
        return canvas ? canvas.toDataURL() : null;
      };
      await page.waitForFunction(figure, cellHandle, { timeout: left(30000) }).catch(() => {});
      const before = await cellHandle.evaluate(figure);
      const readoutBefore = await sliderCell.locator(SEL.readout).first().innerText().catch(() => '?');
      if (!before) {
        failures.push('the slider cell shows no figure (no img or canvas in its output)');
      } else {
        // Drag the handle along the track with the mouse; keyboard as a fallback.
        const handle = sliderCell.locator(SEL.handle).first();
        const hb = await handle.boundingBox();
        const tb = await sliderCell.locator(SEL.track).first().boundingBox();
        const changed = () => page.waitForFunction(({ cell, old }) => {
          const img = cell.querySelector('.jp-OutputArea-output img');
          const canvas = cell.querySelector('.jp-OutputArea-output canvas');
          const now = img && img.src ? img.src : (canvas ? canvas.toDataURL() : null);
          return now && now !== old;
        }, { cell: cellHandle, old: before }, { timeout: left(45000), polling: 250 });
        let moved = false;
        if (hb && tb) {
          const y = hb.y + hb.height / 2;
          const target = hb.x + hb.width / 2 < tb.x + tb.width / 2 ? tb.x + 0.8 * tb.width : tb.x + 0.2 * tb.width;
          await page.mouse.move(hb.x + hb.width / 2, y);
          await page.mouse.down();
          await page.mouse.move(target, y, { steps: 10 });
          await page.mouse.up();
          moved = await changed().then(() => true, () => false);
          if (!moved) log('mouse drag did not redraw the figure; trying the keyboard');
        }
        if (!moved) {
          await handle.focus();
          for (let i = 0; i < 10; i += 1) await page.keyboard.press('ArrowRight');
          moved = await changed().then(() => true, () => false);
        }
        const readoutAfter = await sliderCell.locator(SEL.readout).first().innerText().catch(() => '?');
        if (moved) log(`slider moved ${readoutBefore} -> ${readoutAfter}: figure redrawn`);
        else failures.push(`moving the slider (${readoutBefore} -> ${readoutAfter}) did not redraw the figure`);
      }
      await sliderCell.scrollIntoViewIfNeeded().catch(() => {});
    }
    if (pageErrors.length) log(`page errors (not failures): ${pageErrors.slice(0, 5).join(' | ')}`);

    fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true, timeout: left(30000) });
    log(`screenshot: ${SCREENSHOT}`);
    return failures;
  } catch (err) {
    if (context) {
      const page = context.pages()[0];
      if (page) {
        // Say where the notebook stood: the prompts ([n], [*], [ ]) and the kernel status.
        const state = await page.evaluate(({ panelSel, codeSel, indSel }) => {
          const p = document.querySelector(panelSel);
          if (!p) return 'no notebook panel';
          const prompts = [...p.querySelectorAll(`${codeSel} .jp-InputArea-prompt`)].map((e) => e.textContent.trim());
          const ind = p.querySelector(indSel);
          return `prompts ${prompts.join(' ')}; kernel ${ind ? ind.dataset.status : 'indicator not found'}`;
        }, { panelSel: SEL.panel, codeSel: SEL.codeCell, indSel: SEL.indicator }).catch((e) => `unknown (${e})`);
        log(`notebook state at failure: ${state}`);
        fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
        await page.screenshot({ path: SCREENSHOT, fullPage: true, timeout: 15000 })
          .then(() => log(`screenshot (at failure): ${SCREENSHOT}`), () => {});
      }
    }
    throw err;
  } finally {
    if (context) await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().then((failures) => {
  if (failures.length) {
    console.log(`FAILED after ${stamp()}:\n  - ${failures.join('\n  - ')}`);
    process.exit(1);
  }
  console.log(`OK: lesson 00 ran in Chromium without errors, slider redraws, check feedback shown (${stamp()})`);
}, (err) => {
  console.log(`FAILED after ${stamp()}: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
