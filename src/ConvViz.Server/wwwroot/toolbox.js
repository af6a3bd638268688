'use strict';
// The ConvViz live toolbox page: the Deep Visualization Toolbox's panes (Yosinski et al. 2015) over one WebSocket.
// The server computes everything; this page picks frames and selections and draws the raw pane bytes it gets back.
// Frames go out one at a time: a new one only after the server has answered the last (no queue here or there).

(() => {
  const BACK_MODES = ['Off', 'Gradient', 'Deconvnet', 'Guided'];
  const DISPLAYS = ['Raw', 'Gray', 'Norm', 'NormBlur'];
  // A frame the server never answers (lost with a restart, say) must not stall the stream for good.
  const ANSWER_TIMEOUT_MS = 5000;
  const RECONNECT_DELAY_MS = 1000;
  const JPEG_QUALITY = 0.9;
  const LOADING = 'loading';   // an atlas unit asked for and not answered yet

  const $ = id => document.getElementById(id);
  const decoder = new TextDecoder();

  const state = {
    socket: null,
    model: null,          // ToolboxModel from hello
    atlas: false,
    selection: null,      // what this viewer asked for: {layer, unit, back, display, boost}
    shown: null,          // the header of the frame on screen: what the panes show
    // {kind: 'sample', number}, {kind: 'camera'}, {kind: 'video', name}, {kind: 'image', name, bytes, shown} or {kind: 'none'}
    source: { kind: 'sample', number: 0 },
    frozen: false,
    awaitingSince: null,  // performance.now() of the frame sent and not yet answered
    newVideoFrame: false,
    traceOn: false,
    step: -1,             // index into the frame's backward steps; -1 shows every layer without a step
    arrivals: [],         // performance.now() of the last frames, for frames per second
    received: 0,          // frames received (a recomputed frame keeps its seq, so seq alone does not count them)
    optimized: new Map(), // "layer/unit" -> URL of the optimized image the server made for this page
    optimizing: null,     // {layer, unit, done, total} while the server optimizes a unit
    atlasUnits: new Map() // "layer/unit" -> the atlas's answer (null when it has nothing for the unit, LOADING meanwhile)
  };

  const unitKey = (layer, unit) => `${layer}/${unit}`;
  const layerInfo = name => state.model.layers.find(l => l.name === name);

  // ---- connection ----

  function connect() {
    const url = new URL('ws', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(url);
    socket.binaryType = 'arraybuffer';
    socket.onmessage = event => typeof event.data === 'string' ? onText(JSON.parse(event.data)) : onFrame(event.data);
    socket.onopen = () => setConnection('open', 'connected');
    socket.onclose = () => {
      setAwaiting(false);
      setConnection('closed', 'disconnected, reconnecting…');
      setTimeout(connect, RECONNECT_DELAY_MS);
    };
    state.socket = socket;
  }

  function setConnection(name, text) {
    const element = $('connection');
    element.dataset.state = name;
    element.textContent = text;
  }

  // Whether a frame is out and not answered; the frame counter's data-waiting says so too.
  function setAwaiting(waiting) {
    state.awaitingSince = waiting ? performance.now() : null;
    $('frame-seq').dataset.waiting = String(waiting);
  }

  const isOpen = () => state.socket && state.socket.readyState === WebSocket.OPEN;

  function send(message) {
    if (isOpen()) state.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  function sendImage(bytes) {
    if (!isOpen()) return;
    setAwaiting(true);
    state.socket.send(bytes);
  }

  function onText(message) {
    switch (message.type) {
      case 'hello': onHello(message); break;
      case 'error':
        // The server answered (with a refusal): the next frame may go. A refused image is forgotten, so that a
        // reconnection does not send it again; the server keeps computing its last good frame.
        setAwaiting(false);
        showMessage(message.message);
        if (state.source.kind === 'image' && !state.source.shown) setSource({ kind: 'none' }, `${state.source.name}: not shown`);
        pump();
        break;
      case 'optimize':
        state.optimizing = { layer: message.layer, unit: message.unit, done: message.done, total: message.total };
        renderWants();
        break;
      case 'optimized':
        // Without a url the optimization failed (an error said why): the unit is no longer under way.
        if (message.url) state.optimized.set(unitKey(message.layer, message.unit), message.url);
        if (state.optimizing && state.optimizing.layer === message.layer && state.optimizing.unit === message.unit) state.optimizing = null;
        renderWants();
        break;
    }
  }

  function onHello(hello) {
    const reconnected = state.model !== null && state.model.source === hello.model.source;
    state.model = hello.model;
    state.atlas = hello.atlas;
    // A server that restarted holds none of the images it made for this page, and its atlas may differ.
    state.optimized.clear();
    state.optimizing = null;
    state.atlasUnits.clear();
    $('model-name').textContent = hello.model.source;
    fillLayerSelect();
    $('sample-number').max = Math.max(0, hello.model.sampleCount - 1);
    $('sample-picker').hidden = hello.model.sampleCount === 0;
    if (hello.model.sampleCount === 0 && state.source.kind === 'sample') setSource({ kind: 'none' }, 'the model brings no samples: choose the camera, an image or a video');
    if (reconnected && layerInfo(state.selection.layer)) send({ type: 'select', ...state.selection });
    else state.selection = hello.selection;
    if (state.traceOn) send({ type: 'trace', enabled: true });
    renderControls();
    renderWants();
    resendSource();
  }

  // ---- input sources ----

  function resendSource() {
    const source = state.source;
    if (source.kind === 'sample' && state.model.sampleCount > 0) send({ type: 'sample', number: source.number });
    else if (source.kind === 'image') sendImage(source.bytes);
    else pump();
  }

  // Sends the newest video frame (camera or file) when the server is free, the page is not frozen and the video has
  // a frame not sent yet. Called on every new video frame and on every answer.
  function pump() {
    const kind = state.source.kind;
    if (kind !== 'camera' && kind !== 'video') return;
    const waiting = state.awaitingSince !== null && performance.now() - state.awaitingSince < ANSWER_TIMEOUT_MS;
    const video = $('source-video');
    if (state.frozen || waiting || !isOpen() || !state.model || !state.newVideoFrame || video.videoWidth === 0) return;
    state.newVideoFrame = false;
    setAwaiting(true);
    // The server resizes and crops to the model's input; twice that size is enough and keeps frames small.
    const target = 2 * Math.max(state.model.inputWidth, state.model.inputHeight);
    const scale = Math.min(1, target / Math.min(video.videoWidth, video.videoHeight));
    const canvas = $('capture-canvas');
    canvas.width = Math.max(1, Math.round(video.videoWidth * scale));
    canvas.height = Math.max(1, Math.round(video.videoHeight * scale));
    canvas.getContext('2d').drawImage(video, 0, 0, canvas.width, canvas.height);
    canvas.toBlob(blob => blob.arrayBuffer().then(sendImage), 'image/jpeg', JPEG_QUALITY);
  }

  function watchVideoFrames() {
    const video = $('source-video');
    const onVideoFrame = () => {
      state.newVideoFrame = true;
      pump();
      video.requestVideoFrameCallback(onVideoFrame);
    };
    video.requestVideoFrameCallback(onVideoFrame);
  }

  function stopVideo() {
    const video = $('source-video');
    if (video.srcObject) video.srcObject.getTracks().forEach(track => track.stop());
    video.srcObject = null;
    if (video.src) URL.revokeObjectURL(video.src);
    video.removeAttribute('src');
    $('source-figure').hidden = true;
  }

  async function startCamera() {
    if (!navigator.mediaDevices) {
      showMessage('camera: the browser offers it only to pages on https or localhost (over SSH, forward the port)');
      return;
    }
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
      stopVideo();
      const video = $('source-video');
      video.srcObject = stream;
      $('source-figure').hidden = false;
      await video.play();
      setSource({ kind: 'camera' }, 'camera');
    } catch (error) {
      showMessage(`camera: ${error.message}`);
    }
  }

  function startVideoFile(file) {
    stopVideo();
    const video = $('source-video');
    video.src = URL.createObjectURL(file);
    $('source-figure').hidden = false;
    video.play().catch(error => showMessage(`video ${file.name}: ${error.message}`));
    setSource({ kind: 'video', name: file.name }, `video ${file.name}`);
  }

  // The server decodes JPEG, PNG, WebP, GIF, BMP, PGM and PPM itself (the CLI's decoders and limits); other images the
  // browser can read (AVIF, ...) are decoded here and sent as JPEG.
  async function openImageFile(file) {
    try {
      const serverDecodes = /^image\/(jpeg|png|webp|gif|bmp)$/.test(file.type) || /\.(pgm|ppm|jpe?g|png|webp|gif|bmp)$/i.test(file.name);
      const bytes = serverDecodes ? await file.arrayBuffer() : await reencode(file);
      stopVideo();
      setSource({ kind: 'image', name: file.name, bytes }, `image ${file.name}`);
      sendImage(bytes);
    } catch (error) {
      showMessage(`${file.name}: ${error.message}`);
    }
  }

  async function reencode(file) {
    const bitmap = await createImageBitmap(file);
    const canvas = $('capture-canvas');
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    canvas.getContext('2d').drawImage(bitmap, 0, 0);
    const blob = await new Promise(resolve => canvas.toBlob(resolve, 'image/jpeg', JPEG_QUALITY));
    return blob.arrayBuffer();
  }

  function openFile(file) {
    if (file.type.startsWith('video/')) startVideoFile(file);
    else openImageFile(file);
  }

  function showSample(number) {
    const count = state.model ? state.model.sampleCount : 0;
    if (count === 0) return;
    const wrapped = ((number % count) + count) % count;
    $('sample-number').value = wrapped;
    stopVideo();
    setSource({ kind: 'sample', number: wrapped }, `sample ${wrapped}`);
    send({ type: 'sample', number: wrapped });
  }

  function setSource(source, name) {
    state.source = source;
    setAwaiting(false);
    $('source-name').textContent = name;
    $('camera-button').setAttribute('aria-pressed', String(source.kind === 'camera'));
  }

  function setFrozen(frozen) {
    state.frozen = frozen;
    $('freeze-button').setAttribute('aria-pressed', String(frozen));
    if (!frozen) pump();
  }

  // ---- selection ----

  function select(changes) {
    state.selection = { ...state.selection, ...changes };
    send({ type: 'select', ...changes });
    renderControls();
    renderWants();
  }

  function gridColumns() {
    const shown = state.shown;
    if (shown && shown.selection.layer === state.selection.layer) return shown.layout.columns;
    return Math.ceil(Math.sqrt(layerInfo(state.selection.layer).channels));
  }

  function moveUnit(delta) {
    const unit = state.selection.unit + delta;
    if (unit >= 0 && unit < layerInfo(state.selection.layer).channels) select({ unit });
  }

  function moveLayer(delta) {
    const layers = state.model.layers;
    const index = layers.findIndex(l => l.name === state.selection.layer) + delta;
    if (index < 0 || index >= layers.length) return;
    select({ layer: layers[index].name, unit: Math.min(state.selection.unit, layers[index].channels - 1) });
  }

  const cycle = (values, current) => values[(values.indexOf(current) + 1) % values.length];

  // ---- frames ----

  // A frame: 4-byte little-endian header length L, L bytes of UTF-8 JSON, then the panes' raw pixels at their offsets.
  function onFrame(buffer) {
    const length = new DataView(buffer).getUint32(0, true);
    const header = JSON.parse(decoder.decode(new Uint8Array(buffer, 4, length)));
    const body = 4 + length;
    const panes = new Map(header.panes.map(p => [p.name, { ...p, pixels: new Uint8Array(buffer, body + p.offset, p.length) }]));
    state.shown = header;
    setAwaiting(false);
    if (state.source.kind === 'image') state.source.shown = true;
    hideMessage();
    countFrame(header);
    drawPane($('input-canvas'), panes.get('input'));
    drawLayerGrid(panes.get('layer'));
    $('layer-pane').dataset.boost = String(header.selection.boost);
    drawPane($('unit-canvas'), panes.get('unit'));
    const back = panes.get('back');
    $('back-pane').dataset.mode = header.selection.back;
    $('back-pane').dataset.display = header.selection.display;
    $('back-canvas').hidden = !back;
    $('back-off').hidden = Boolean(back);
    if (back) drawPane($('back-canvas'), back);
    renderReadout(header);
    renderTrace(header, panes);
    pump();
  }

  function drawPane(canvas, pane) {
    if (canvas.width !== pane.width || canvas.height !== pane.height) {
      canvas.width = pane.width;
      canvas.height = pane.height;
    }
    const image = new ImageData(pane.width, pane.height);
    const rgba = image.data;
    const pixels = pane.pixels;
    if (pane.channels === 1) {
      for (let i = 0, o = 0; i < pixels.length; i++, o += 4) {
        rgba[o] = rgba[o + 1] = rgba[o + 2] = pixels[i];
        rgba[o + 3] = 255;
      }
    } else {
      for (let i = 0, o = 0; i < pixels.length; i += 3, o += 4) {
        rgba[o] = pixels[i];
        rgba[o + 1] = pixels[i + 1];
        rgba[o + 2] = pixels[i + 2];
        rgba[o + 3] = 255;
      }
    }
    canvas.getContext('2d').putImageData(image, 0, 0);
  }

  function drawLayerGrid(pane) {
    drawPane($('layer-canvas'), pane);
    fitLayerGrid();
  }

  function fitLayerGrid() {
    const canvas = $('layer-canvas');
    // As wide as the pane allows while the grid stays within most of the window's height; never below its own size
    // unless the pane is narrower.
    const room = $('grid-holder').parentElement.clientWidth - 24;
    const zoom = Math.max(1, Math.min(room / canvas.width, 0.8 * window.innerHeight / canvas.height));
    canvas.style.width = `${Math.min(room, Math.floor(canvas.width * zoom))}px`;
    placeOutline();
  }

  // Tile i of the grid, in the grid image's pixels (GridLayout's formula).
  function tileRect(layout, index) {
    const width = layout.tileWidth * layout.scale;
    const height = layout.tileHeight * layout.scale;
    const column = index % layout.columns;
    const row = Math.floor(index / layout.columns);
    return { x: layout.gap + column * (width + layout.gap), y: layout.gap + row * (height + layout.gap), width, height };
  }

  function tileAt(event) {
    const layout = state.shown && state.shown.layout;
    if (!layout) return -1;
    const canvas = $('layer-canvas');
    const zoom = canvas.clientWidth / canvas.width;
    const x = event.offsetX / zoom - layout.gap;
    const y = event.offsetY / zoom - layout.gap;
    const strideX = layout.tileWidth * layout.scale + layout.gap;
    const strideY = layout.tileHeight * layout.scale + layout.gap;
    const column = Math.floor(x / strideX);
    const row = Math.floor(y / strideY);
    const insideTile = x >= 0 && y >= 0 && x - column * strideX < layout.tileWidth * layout.scale && y - row * strideY < layout.tileHeight * layout.scale;
    const index = row * layout.columns + column;
    return insideTile && column < layout.columns && index < layout.count ? index : -1;
  }

  function placeOutline() {
    const outline = $('unit-outline');
    const shown = state.shown;
    if (!shown) return;
    const canvas = $('layer-canvas');
    const zoom = canvas.clientWidth / canvas.width;
    const rect = tileRect(shown.layout, shown.selection.unit);
    outline.hidden = false;
    outline.style.left = `${(rect.x - 1) * zoom - 1}px`;
    outline.style.top = `${(rect.y - 1) * zoom - 1}px`;
    outline.style.width = `${(rect.width + 2) * zoom + 2}px`;
    outline.style.height = `${(rect.height + 2) * zoom + 2}px`;
    outline.dataset.unit = shown.selection.unit;
  }

  function countFrame(header) {
    const now = performance.now();
    state.arrivals.push(now);
    renderFps();
    state.received++;
    const seq = $('frame-seq');
    seq.textContent = header.dropped > 0 ? `frame ${header.seq} (${header.dropped} dropped)` : `frame ${header.seq}`;
    seq.dataset.seq = header.seq;
    seq.dataset.received = state.received;
    const t = header.timings;
    $('timings').textContent = `decode ${t.decodeMs.toFixed(1)} · forward ${t.forwardMs.toFixed(1)} · backward ${t.backwardMs.toFixed(1)}` +
      ` · render ${t.renderMs.toFixed(1)} · send ${t.sendMs.toFixed(1)} ms`;
  }

  // Frames per second over the last two seconds; also run by a timer, so that it falls to 0 when frames stop.
  function renderFps() {
    const now = performance.now();
    while (state.arrivals.length > 0 && now - state.arrivals[0] > 2000) state.arrivals.shift();
    const count = state.arrivals.length;
    const span = count > 1 ? (now - state.arrivals[0]) / 1000 : 0;
    $('fps').textContent = span > 0 ? `${((count - 1) / span).toFixed(1)} fps` : `${count > 0 ? '–' : '0'} fps`;
  }

  // Numbers in JSON may be NaN or Infinity, written as strings.
  const number = (value, digits) => Number(value).toPrecision(digits);

  function renderReadout(header) {
    const s = header.selection;
    const title = $('unit-title');
    title.textContent = `unit ${s.unit} of ${s.layer}`;
    title.dataset.layer = s.layer;
    title.dataset.unit = s.unit;
    $('unit-value').textContent = number(header.unitValue, 4);
    const list = $('top-classes');
    list.replaceChildren(...header.top.map(c => {
      const item = document.createElement('li');
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = c.name;
      const probability = document.createElement('span');
      probability.className = 'probability';
      probability.textContent = `${(100 * Number(c.probability)).toFixed(1)}%`;
      const bar = document.createElement('span');
      bar.className = 'bar';
      const fill = document.createElement('span');
      fill.style.width = `${(100 * Number(c.probability)).toFixed(1)}%`;
      bar.append(fill);
      item.append(name, probability, bar);
      return item;
    }));
  }

  // ---- controls that follow the selection ----

  function fillLayerSelect() {
    const select = $('layer-select');
    select.replaceChildren(...state.model.layers.map(l => {
      const option = document.createElement('option');
      option.value = l.name;
      option.textContent = `${l.name} (${l.channels})`;
      return option;
    }));
  }

  function renderControls() {
    const s = state.selection;
    $('layer-select').value = s.layer;
    $('boost-button').setAttribute('aria-pressed', String(s.boost));
    $('back-mode').textContent = `mode: ${s.back}`;
    $('back-display').textContent = `display: ${s.display}`;
  }

  // ---- what the unit wants ----

  function renderWants() {
    if (!state.selection) return;
    const { layer, unit } = state.selection;
    const key = unitKey(layer, unit);
    let optimizedUrl = state.optimized.get(key);
    const atlasView = $('atlas-view');
    atlasView.hidden = !state.atlas;
    if (state.atlas) {
      if (!state.atlasUnits.has(key)) fetchAtlasUnit(layer, unit);
      const atlasUnit = state.atlasUnits.get(key);
      if (atlasUnit === LOADING) return;
      const patches = atlasUnit ? atlasUnit.patches : [];
      fillPatches($('atlas-patches'), patches.map(p => ({ url: p.image, title: `${p.value.toPrecision(4)}: ${p.source}` })));
      fillPatches($('atlas-deconvs'), patches.filter(p => p.deconv).map(p => ({ url: p.deconv, title: `deconvnet of ${p.source}` })));
      const missing = $('atlas-missing');
      missing.hidden = Boolean(atlasUnit);
      missing.textContent = `the atlas has nothing for unit ${unit} of ${layer}`;
      if (atlasUnit && atlasUnit.optimized) optimizedUrl = atlasUnit.optimized;
    }
    const running = state.optimizing && state.optimizing.layer === layer && state.optimizing.unit === unit;
    $('optimize-view').hidden = Boolean(optimizedUrl);
    $('optimize-button').disabled = Boolean(state.optimizing);
    const progress = $('optimize-progress');
    progress.hidden = !running;
    if (running) {
      progress.max = state.optimizing.total || 1;
      progress.value = state.optimizing.done;
    }
    $('optimize-label').textContent = state.optimizing
      ? `optimizing unit ${state.optimizing.unit} of ${state.optimizing.layer}: ${state.optimizing.done} / ${state.optimizing.total}`
      : '';
    const figure = $('optimized-figure');
    figure.hidden = !optimizedUrl;
    if (optimizedUrl && $('optimized-image').getAttribute('src') !== optimizedUrl) $('optimized-image').src = optimizedUrl;
  }

  async function fetchAtlasUnit(layer, unit) {
    const key = unitKey(layer, unit);
    state.atlasUnits.set(key, LOADING);
    try {
      const response = await fetch(`api/atlas?layer=${encodeURIComponent(layer)}&unit=${unit}`);
      if (response.ok) state.atlasUnits.set(key, await response.json());
      else {
        state.atlasUnits.set(key, null);
        if (response.status !== 404) showMessage(`atlas: ${await response.text()}`);
      }
    } catch (error) {
      state.atlasUnits.set(key, null);
      showMessage(`atlas: ${error.message}`);
    }
    renderWants();
  }

  function fillPatches(holder, patches) {
    holder.replaceChildren(...patches.map(patch => {
      const image = document.createElement('img');
      image.src = patch.url;
      image.alt = patch.title;
      image.title = patch.title;
      return image;
    }));
  }

  function optimizeSelectedUnit() {
    const { layer, unit } = state.selection;
    state.optimizing = { layer, unit, done: 0, total: 0 };
    send({ type: 'optimize', layer, unit });
    renderWants();
  }

  // ---- layer by layer ----

  function setTrace(on) {
    state.traceOn = on;
    state.step = -1;
    $('trace-pane').hidden = !on;
    send({ type: 'trace', enabled: on });
    if (state.shown) renderTrace(state.shown, new Map());
  }

  // Every layer's arriving gradient, top down to the input: a small grid each, with its norm; refreshed per frame.
  function renderTrace(header, panes) {
    if (!state.traceOn || !header.trace) return;
    const list = $('trace-list');
    const names = header.trace.map(t => t.layer);
    if (list.children.length !== names.length || names.some((name, i) => list.children[i].dataset.layer !== name)) {
      list.replaceChildren(...header.trace.map(t => {
        const item = document.createElement('li');
        item.dataset.layer = t.layer;
        const label = document.createElement('div');
        const canvas = document.createElement('canvas');
        canvas.width = canvas.height = 1;
        item.append(label, canvas);
        return item;
      }));
    }
    header.trace.forEach((t, i) => {
      const item = list.children[i];
      item.children[0].textContent = `${t.layer} [${t.shape.join('×')}] ‖g‖ ${number(t.norm, 3)}`;
      item.children[0].title = `largest |g| ${number(t.maxAbs, 3)}`;
      const pane = panes.get(`trace:${t.layer}`);
      if (pane) drawPane(item.children[1], pane);
    });
    renderStep(header);
  }

  function stepBy(delta) {
    if (!state.traceOn) setTrace(true);
    const steps = (state.shown && state.shown.steps) || [];
    state.step = Math.max(-1, Math.min(steps.length - 1, state.step + delta));
    if (state.shown) renderStep(state.shown);
  }

  // One step of the backward pass: what the layer's backward does, and the chosen unit's numbers at its output
  // (before) and at its input (after).
  function renderStep(header) {
    const steps = header.steps || [];
    state.step = Math.min(state.step, steps.length - 1);
    const step = state.step >= 0 ? steps[state.step] : null;
    $('step-position').textContent = steps.length === 0 ? '' : step ? `step ${state.step + 1} of ${steps.length}` : `${steps.length} steps: press s`;
    for (const item of $('trace-list').children) {
      item.classList.toggle('current', Boolean(step) && item.dataset.layer === step.after.layer);
      item.classList.toggle('from', Boolean(step) && item.dataset.layer === step.before.layer);
    }
    const box = $('step-explanation');
    box.hidden = !step;
    if (!step) return;
    const heading = document.createElement('div');
    heading.textContent = `${step.layer} (${step.opType}): ${step.explanation}`;
    const windows = document.createElement('div');
    windows.className = 'windows';
    windows.append(windowTable('before', step.before, header), windowTable('after', step.after, header));
    box.replaceChildren(heading, windows);
  }

  // A gradient window: up to size x size values around (y, x), clipped to the map, row major.
  function windowTable(label, w, header) {
    const holder = document.createElement('div');
    const caption = document.createElement('div');
    caption.className = 'dim small';
    caption.textContent = `${label}: ${w.layer}, channel ${w.channel} around (${w.y}, ${w.x})`;
    const entry = header.trace.find(t => t.layer === w.layer);
    const mapWidth = entry && entry.shape.length >= 3 ? entry.shape[entry.shape.length - 1] : 1;
    const half = Math.floor(w.size / 2);
    const columns = Math.min(mapWidth - 1, w.x + half) - Math.max(0, w.x - half) + 1;
    const table = document.createElement('table');
    for (let start = 0; start < w.values.length; start += columns) {
      const row = table.insertRow();
      w.values.slice(start, start + columns).forEach(v => { row.insertCell().textContent = number(v, 3); });
    }
    holder.append(caption, table);
    return holder;
  }

  // ---- messages and help ----

  function showMessage(text) {
    const line = $('message');
    line.textContent = text;
    line.hidden = false;
  }

  function hideMessage() {
    $('message').hidden = true;
  }

  const toggleHelp = () => { $('help').hidden = !$('help').hidden; };

  // ---- keys and mouse ----

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.matches('input, select, textarea')) return;
    if (event.key === 'Escape') { $('help').hidden = true; return; }
    if (!state.selection) return;
    const actions = {
      ArrowLeft: () => moveUnit(-1), j: () => moveUnit(-1),
      ArrowRight: () => moveUnit(1), l: () => moveUnit(1),
      ArrowUp: () => moveUnit(-gridColumns()), i: () => moveUnit(-gridColumns()),
      ArrowDown: () => moveUnit(gridColumns()), k: () => moveUnit(gridColumns()),
      u: () => moveLayer(-1), o: () => moveLayer(1),
      b: () => select({ back: cycle(BACK_MODES, state.selection.back) }),
      n: () => select({ display: cycle(DISPLAYS, state.selection.display) }),
      t: () => select({ boost: !state.selection.boost }),
      f: () => setFrozen(!state.frozen),
      g: () => setTrace(!state.traceOn),
      s: () => stepBy(1), S: () => stepBy(-1),
      h: toggleHelp, '?': toggleHelp
    };
    const action = actions[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  }

  function wire() {
    document.addEventListener('keydown', onKey);
    $('camera-button').addEventListener('click', startCamera);
    $('file-input').addEventListener('change', event => {
      const file = event.target.files[0];
      event.target.value = '';
      if (file) openFile(file);
    });
    document.addEventListener('dragover', event => event.preventDefault());
    document.addEventListener('drop', event => {
      event.preventDefault();
      const file = event.dataTransfer.files[0];
      if (file) openFile(file);
    });
    $('sample-previous').addEventListener('click', () => showSample(state.source.kind === 'sample' ? state.source.number - 1 : 0));
    $('sample-next').addEventListener('click', () => showSample(state.source.kind === 'sample' ? state.source.number + 1 : 0));
    $('sample-number').addEventListener('change', event => showSample(Number(event.target.value)));
    $('freeze-button').addEventListener('click', () => setFrozen(!state.frozen));
    $('layer-select').addEventListener('change', event => {
      const layer = layerInfo(event.target.value);
      select({ layer: layer.name, unit: Math.min(state.selection.unit, layer.channels - 1) });
      event.target.blur();
    });
    $('boost-button').addEventListener('click', () => select({ boost: !state.selection.boost }));
    $('back-mode').addEventListener('click', () => select({ back: cycle(BACK_MODES, state.selection.back) }));
    $('back-display').addEventListener('click', () => select({ display: cycle(DISPLAYS, state.selection.display) }));
    $('optimize-button').addEventListener('click', optimizeSelectedUnit);
    $('step-next').addEventListener('click', () => stepBy(1));
    $('step-previous').addEventListener('click', () => stepBy(-1));
    $('help-button').addEventListener('click', toggleHelp);
    $('help').addEventListener('click', () => { $('help').hidden = true; });

    const canvas = $('layer-canvas');
    const tooltip = $('tile-tooltip');
    canvas.addEventListener('mousemove', event => {
      const index = tileAt(event);
      tooltip.hidden = index < 0;
      if (index < 0) return;
      tooltip.textContent = `channel ${index}`;
      tooltip.style.left = `${event.offsetX + 12}px`;
      tooltip.style.top = `${event.offsetY + 12}px`;
    });
    canvas.addEventListener('mouseleave', () => { tooltip.hidden = true; });
    canvas.addEventListener('click', event => {
      const index = tileAt(event);
      if (index >= 0 && state.selection) select({ unit: index });
    });
    window.addEventListener('resize', () => { if (state.shown) fitLayerGrid(); });
  }

  wire();
  setInterval(renderFps, 1000);
  watchVideoFrames();
  connect();
})();
