// The meeting room: a WebRTC mesh (up to 8) signalled over the /ws/ socket
// (conferences/consumers.py). The newcomer offers to everyone already in the room; ICE
// candidates are trickled. #room's data-state is "connecting", "lobby", "in-room", "left" or
// "refused"; data-connected counts the peer connections whose state is "connected".

const root = document.getElementById("room");
const str = (name) => root.dataset[`str${name.replace(/(^|-)(\w)/g, (_m, _d, c) => c.toUpperCase())}`] || name;
const room = root.dataset.room;
const statusNode = document.getElementById("room-status");
const videos = document.getElementById("videos");
const chatLog = document.getElementById("chat-log");
const lobbyList = document.getElementById("lobby-list");

const peers = new Map(); // peer id -> { pc, name, figure }
let ws = null;
let local = null; // MediaStream
let screen = null; // MediaStream while sharing
let iceServers = [];
let me = null;

function setState(state, text) {
  root.dataset.state = state;
  statusNode.textContent = text || str(state);
}

function countConnected() {
  let n = 0;
  for (const p of peers.values()) if (p.pc.connectionState === "connected") n += 1;
  root.dataset.connected = String(n);
}

function send(frame) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ room, ...frame }));
}

async function getMedia() {
  try {
    local = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  } catch {
    local = new MediaStream();
    statusNode.textContent = str("no-media");
  }
  document.getElementById("local-video").srcObject = local;
}

function videoFor(peerId, name) {
  const figure = document.createElement("figure");
  const video = document.createElement("video");
  video.autoplay = true;
  video.playsInline = true;
  video.dataset.peer = peerId;
  const caption = document.createElement("figcaption");
  caption.textContent = name;
  figure.append(video, caption);
  videos.append(figure);
  return figure;
}

function connection(peer) {
  const existing = peers.get(peer.peer);
  if (existing) return existing.pc;
  const pc = new RTCPeerConnection({ iceServers });
  const figure = videoFor(peer.peer, peer.name);
  peers.set(peer.peer, { pc, name: peer.name, figure });
  for (const track of local.getTracks()) pc.addTrack(track, local);
  pc.onicecandidate = (event) => {
    send({ type: "room.ice", to: peer.peer, candidate: event.candidate ? event.candidate.toJSON() : null });
  };
  pc.ontrack = (event) => {
    figure.querySelector("video").srcObject = event.streams[0];
  };
  pc.onconnectionstatechange = countConnected;
  return pc;
}

function drop(peerId) {
  const p = peers.get(peerId);
  if (!p) return;
  p.pc.close();
  p.figure.remove();
  peers.delete(peerId);
  countConnected();
}

async function offerTo(peer) {
  const pc = connection(peer);
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  send({ type: "room.offer", to: peer.peer, sdp: { type: "offer", sdp: offer.sdp } });
}

function addChat(from, text) {
  const li = document.createElement("li");
  const who = document.createElement("strong");
  who.textContent = `${from}: `;
  li.append(who, document.createTextNode(text));
  chatLog.append(li);
  chatLog.scrollTop = chatLog.scrollHeight;
}

function addWaiting(peer) {
  if (!lobbyList) return;
  const li = document.createElement("li");
  li.dataset.peer = peer.peer;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "button";
  button.textContent = `${str("admit")}: ${peer.name}`;
  button.addEventListener("click", () => {
    send({ type: "room.admit", peer: peer.peer });
    li.remove();
  });
  li.append(button);
  lobbyList.append(li);
}

const handlers = {
  "room.joined": async (f) => {
    me = f.peer;
    iceServers = f.ice_servers || [];
    setState("in-room");
    for (const peer of f.peers) await offerTo(peer);
  },
  "room.lobby": () => setState("lobby"),
  "room.waiting": (f) => addWaiting(f.peer),
  "room.peer-joined": (f) => {
    connection(f.peer);
  },
  "room.peer-left": (f) => drop(f.peer),
  "room.offer": async (f) => {
    const known = peers.get(f.from);
    const pc = known ? known.pc : connection({ peer: f.from, name: "" });
    await pc.setRemoteDescription(f.sdp);
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    send({ type: "room.answer", to: f.from, sdp: { type: "answer", sdp: answer.sdp } });
  },
  "room.answer": async (f) => {
    const p = peers.get(f.from);
    if (p) await p.pc.setRemoteDescription(f.sdp);
  },
  "room.ice": async (f) => {
    const p = peers.get(f.from);
    if (p && f.candidate) await p.pc.addIceCandidate(f.candidate);
  },
  "room.chat": (f) => addChat(f.from.peer === me ? str("you") : f.from.name, f.text),
  "room.left": () => setState("left"),
  "room.here": () => {},
  error: (f) => {
    if (root.dataset.state === "connecting") setState("refused", `${str("refused")}: ${f.message}`);
    else statusNode.textContent = f.message;
  },
  ping: () => send({ type: "pong" }),
};

// "Still here", every 30 s: a socket not heard of for 90 s counts as gone (its process died).
setInterval(() => {
  if (root.dataset.state === "in-room" || root.dataset.state === "lobby") send({ type: "room.here" });
}, 30000);

function open() {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  ws = new WebSocket(`${scheme}://${window.location.host}/ws/`);
  ws.addEventListener("open", () => send({ type: "room.join" }));
  ws.addEventListener("message", async (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (frame.room && frame.room !== room) return;
    const handler = handlers[frame.type];
    if (handler) await handler(frame);
  });
  ws.addEventListener("close", () => {
    for (const id of [...peers.keys()]) drop(id);
    if (root.dataset.state !== "left" && root.dataset.state !== "refused") {
      setState("connecting");
      setTimeout(open, 2000);
    }
  });
}

function toggle(button, kind, onText, offText) {
  const tracks = kind === "audio" ? local.getAudioTracks() : local.getVideoTracks();
  const off = button.getAttribute("aria-pressed") !== "true";
  for (const t of tracks) t.enabled = !off;
  button.setAttribute("aria-pressed", String(off));
  button.textContent = off ? str(offText) : str(onText);
}

document.getElementById("toggle-mic").addEventListener("click", (e) => toggle(e.currentTarget, "audio", "mute", "unmute"));
document.getElementById("toggle-camera").addEventListener("click", (e) => toggle(e.currentTarget, "video", "camera-off", "camera-on"));

async function replaceVideo(track) {
  for (const { pc } of peers.values()) {
    const sender = pc.getSenders().find((s) => s.track && s.track.kind === "video");
    if (sender) await sender.replaceTrack(track);
  }
  document.getElementById("local-video").srcObject = track ? new MediaStream([track]) : local;
}

document.getElementById("toggle-share").addEventListener("click", async (e) => {
  const button = e.currentTarget;
  if (screen) {
    for (const t of screen.getTracks()) t.stop();
    screen = null;
    await replaceVideo(local.getVideoTracks()[0] || null);
    button.setAttribute("aria-pressed", "false");
    button.textContent = str("share");
    return;
  }
  try {
    screen = await navigator.mediaDevices.getDisplayMedia({ video: true });
  } catch {
    return;
  }
  const [track] = screen.getVideoTracks();
  track.addEventListener("ended", () => button.click());
  await replaceVideo(track);
  button.setAttribute("aria-pressed", "true");
  button.textContent = str("stop-share");
});

document.getElementById("leave-room").addEventListener("click", () => {
  send({ type: "room.leave" });
  setState("left");
  for (const id of [...peers.keys()]) drop(id);
  for (const t of local.getTracks()) t.stop();
});

document.getElementById("chat-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = document.getElementById("chat-text");
  const text = input.value.trim();
  if (text) send({ type: "room.chat", text });
  input.value = "";
});

getMedia().then(open);
