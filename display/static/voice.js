/* hallVoice: speaks each call in Chinese, twice, one call at a time, after a short chime.
 *
 *   hallVoice.enable({ button: element })   // this screen speaks (hall screen by default)
 *   hallVoice.announce(event)                // a ticket.called payload: {utterance, speech, recall}
 *   hallVoice.history                        // [{text, mode: "voice"|"chime", at, recall}]
 *
 * One queue: the next call starts only after the previous one finished both repetitions;
 * every repetition has a safety timeout, so a stuck speech engine cannot block the queue.
 * Only a Chinese voice (zh-CN first) may speak the Chinese text; without one the chime alone
 * is played. The chime is made with a WebAudio oscillator (no audio file).
 *
 * Browsers refuse sound before a user gesture. When the AudioContext starts suspended a
 * button "点击启用语音播报" is shown; one tap (or any key) unlocks sound until the next reload.
 * Unattended screens run Chrome in kiosk mode started with
 *   chromium --kiosk --autoplay-policy=no-user-gesture-required http://server/display/<hall>
 * so they speak after a power cut without anybody touching them.
 */
(function (global) {
  "use strict";
  var REPEAT = 2;                  // 「请 A001 号到 3 号窗口办理」 is said twice
  var CHIME_MS = 1200;             // the ding-dong, then the voice
  var PAUSE_MS = 800;              // between the two repetitions
  var GAP_MS = 1000;               // between two calls
  var MAX_QUEUE = 10;              // a burst of calls: drop the oldest rather than lag minutes
  var HISTORY = 200;

  var synth = global.speechSynthesis || null;
  var AudioCtx = global.AudioContext || global.webkitAudioContext || null;
  var queue = [];
  var busy = false;
  var enabled = false;
  var audio = null;
  var button = null;
  var current = null;              // keep the utterance referenced (Chrome drops onend otherwise)
  var primed = false;
  var failedVoices = {};           // voices that errored (e.g. a network voice on an intranet)
  var history = [];

  // ------------------------------------------------------------------ voices

  function langOf(voice) {
    return String(voice.lang || "").replace("_", "-").toLowerCase();
  }

  function rank(voice) {
    var lang = langOf(voice);
    var score;
    if (lang === "zh-cn" || lang.indexOf("zh-hans") === 0 || lang === "cmn-cn") score = 0;
    else if (lang === "zh" || lang === "cmn" || lang === "zh-sg") score = 1;
    else if (lang === "zh-tw" || lang.indexOf("zh-hant") === 0) score = 2;
    else if (lang.indexOf("zh") === 0 || lang.indexOf("cmn") === 0) score = 3;  // zh-HK: Cantonese
    else return -1;
    return voice.localService === false ? score + 10 : score;  // offline halls: local first
  }

  /** The best Chinese voice available now, or null (then only the chime is played). */
  function pickVoice() {
    if (!synth || !synth.getVoices) return null;
    var best = null;
    var bestRank = Infinity;
    var voices = [];
    try { voices = synth.getVoices() || []; } catch (e) { voices = []; }
    for (var i = 0; i < voices.length; i++) {
      var voice = voices[i];
      var r = rank(voice);
      if (r < 0 || failedVoices[voice.voiceURI || voice.name]) continue;
      if (r < bestRank) { best = voice; bestRank = r; }
    }
    return best;
  }

  if (synth) {
    // Chrome fills the list asynchronously; nothing to do but look again at the next call.
    var refresh = function () { hallVoice.voice = (pickVoice() || {}).name || null; };
    if (synth.addEventListener) synth.addEventListener("voiceschanged", refresh);
    else synth.onvoiceschanged = refresh;
  }

  // ------------------------------------------------------------------ sound unlock

  function audioContext() {
    if (!audio && AudioCtx) {
      try {
        audio = new AudioCtx();
        audio.onstatechange = showButton;
      } catch (e) { audio = null; }
    }
    return audio;
  }

  function showButton() {
    if (!button) return;
    button.hidden = !(enabled && audio && audio.state === "suspended");
  }

  /** Called from a user gesture: resume the audio and prime the speech engine. */
  function unlock() {
    var ctx = audioContext();
    if (ctx && ctx.state === "suspended" && ctx.resume) {
      ctx.resume().then(showButton, showButton);
    }
    if (synth && !busy && !primed) {
      primed = true;
      try {
        var primer = new global.SpeechSynthesisUtterance(" ");
        primer.volume = 0;
        synth.speak(primer);
      } catch (e) { /* no speech engine: the chime will do */ }
    }
    showButton();
  }

  // ------------------------------------------------------------------ chime

  function tone(ctx, frequency, at, seconds) {
    var osc = ctx.createOscillator();
    var gain = ctx.createGain();
    osc.type = "sine";
    osc.frequency.setValueAtTime(frequency, at);
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.45, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + seconds);
    osc.connect(gain);
    gain.connect(ctx.destination);
    osc.start(at);
    osc.stop(at + seconds + 0.05);
  }

  /** Ding-dong (E5 then C5); the queue goes on by a timer, never by an audio callback. */
  function chime(then) {
    var ctx = audioContext();
    if (ctx && ctx.state === "running") {
      try {
        var t0 = ctx.currentTime + 0.02;
        tone(ctx, 659.25, t0, 0.6);
        tone(ctx, 523.25, t0 + 0.45, 0.7);
      } catch (e) { /* a broken audio device must not stop the calls */ }
    }
    setTimeout(then, CHIME_MS);
  }

  // ------------------------------------------------------------------ speech

  function safetyMs(text) {
    return Math.max(6000, 2000 + text.length * 450);
  }

  function speak(text, voice, then) {
    var left = REPEAT;
    try { synth.cancel(); synth.resume(); } catch (e) { /* nothing queued */ }

    function once() {
      if (left <= 0) { then(); return; }
      left -= 1;
      var finished = false;
      var utterance = new global.SpeechSynthesisUtterance(text);
      utterance.lang = "zh-CN";
      utterance.rate = 0.85;
      utterance.volume = 1;
      try { utterance.voice = voice; } catch (e) { /* some engines reject foreign objects */ }
      function after(delay) {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        current = null;
        setTimeout(once, delay);
      }
      var timer = setTimeout(function () {
        try { synth.cancel(); } catch (e) { /* engine gone */ }
        after(0);
      }, safetyMs(text));
      utterance.onend = function () { after(PAUSE_MS); };
      utterance.onerror = function (event) {
        var reason = event && event.error;
        if (reason && reason !== "interrupted" && reason !== "canceled" && reason !== "not-allowed") {
          failedVoices[voice.voiceURI || voice.name] = true;  // next call: another voice or chime
          left = 0;
        }
        after(0);
      };
      current = utterance;
      try {
        synth.speak(utterance);
      } catch (e) {
        after(0);
      }
    }
    once();
  }

  // ------------------------------------------------------------------ the queue

  function next() {
    if (busy || !queue.length) return;
    busy = true;
    var item = queue.shift();
    var voice = pickVoice();
    var mode = voice ? "voice" : "chime";
    history.push({ text: item.text, mode: mode, at: new Date().toISOString(), recall: item.recall });
    if (history.length > HISTORY) history.splice(0, history.length - HISTORY);
    function done() {
      busy = false;
      setTimeout(next, GAP_MS);
    }
    chime(function () {
      if (mode === "voice") speak(item.text, voice, done);
      else done();
    });
  }

  /** Queue a call (ticket.called payload) to be spoken; recalls are spoken again too. */
  function announce(event) {
    if (!enabled || !event) return;
    var text = event.utterance || event.speech;
    if (!text) return;
    queue.push({ text: String(text), recall: !!event.recall });
    if (queue.length > MAX_QUEUE) queue.splice(0, queue.length - MAX_QUEUE);
    next();
  }

  /** Turn speaking on for this page; `button` is shown while the browser blocks sound. */
  function enable(options) {
    enabled = true;
    button = (options && options.button) || null;
    audioContext();
    if (button) button.addEventListener("click", unlock);
    global.addEventListener("pointerdown", unlock, { passive: true });
    global.addEventListener("keydown", unlock);
    showButton();
    hallVoice.voice = (pickVoice() || {}).name || null;
  }

  var hallVoice = {
    history: history,
    voice: null,
    enable: enable,
    announce: announce,
    unlock: unlock,
    get enabled() { return enabled; },
    get pending() { return queue.length + (busy ? 1 : 0); },
  };
  global.hallVoice = hallVoice;
})(window);
