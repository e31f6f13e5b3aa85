/* Kizuna photos: the camera inside the page ("写真を撮る").

   getUserMedia with the rear camera, shown in a <dialog>; tap "撮影" to take the picture
   (drawn from the video onto a canvas and encoded as a JPEG Blob), then "撮り直す" or
   "この写真を使う". The picture exists only in the page's memory and the photo store: it never
   lands in the tablet's camera roll, and a canvas carries no GPS or other metadata. The camera
   is stopped whenever the dialog closes. */

export class Camera {
  constructor({ dialog, onPhoto, str }) {
    this.dialog = dialog;
    this.onPhoto = onPhoto;
    this.str = str;
    this.video = dialog.querySelector("video");
    this.still = dialog.querySelector("img");
    this.status = dialog.querySelector(".camera-status");
    this.shootBtn = dialog.querySelector("[data-camera=shoot]");
    this.retakeBtn = dialog.querySelector("[data-camera=retake]");
    this.useBtn = dialog.querySelector("[data-camera=use]");
    this.closeBtn = dialog.querySelector("[data-camera=close]");
    this.stream = null;
    this.blob = null;
    this.stillUrl = null;
    this.shootBtn.addEventListener("click", () => this.shoot());
    this.retakeBtn.addEventListener("click", () => this.showLive());
    this.useBtn.addEventListener("click", () => this.use());
    this.closeBtn.addEventListener("click", () => this.close());
    dialog.addEventListener("close", () => this.stop());
  }

  static available() {
    return Boolean(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  }

  open() {
    this.status.textContent = this.str("camera-starting");
    if (typeof this.dialog.showModal === "function") {
      this.dialog.showModal();
    } else {
      this.dialog.setAttribute("open", "");
    }
    this.showLive();
    navigator.mediaDevices
      .getUserMedia({
        video: { facingMode: { ideal: "environment" }, width: { ideal: 3840 }, height: { ideal: 2160 } },
        audio: false,
      })
      .then((stream) => {
        this.stream = stream;
        this.video.srcObject = stream;
        return this.video.play();
      })
      .then(() => {
        this.status.textContent = "";
        this.shootBtn.disabled = false;
      })
      .catch(() => {
        this.status.textContent = this.str("camera-failed");
      });
  }

  showLive() {
    this.blob = null;
    if (this.stillUrl) {
      URL.revokeObjectURL(this.stillUrl);
      this.stillUrl = null;
    }
    this.still.hidden = true;
    this.video.hidden = false;
    this.shootBtn.hidden = false;
    this.shootBtn.disabled = !this.stream;
    this.retakeBtn.hidden = true;
    this.useBtn.hidden = true;
  }

  shoot() {
    const width = this.video.videoWidth;
    const height = this.video.videoHeight;
    if (!width || !height) {
      return;
    }
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    canvas.getContext("2d").drawImage(this.video, 0, 0, width, height);
    canvas.toBlob(
      (blob) => {
        if (!blob) {
          return;
        }
        this.blob = blob;
        this.stillUrl = URL.createObjectURL(blob);
        this.still.src = this.stillUrl;
        this.still.hidden = false;
        this.video.hidden = true;
        this.shootBtn.hidden = true;
        this.retakeBtn.hidden = false;
        this.useBtn.hidden = false;
        this.useBtn.focus();
      },
      "image/jpeg",
      0.9,
    );
  }

  use() {
    if (this.blob) {
      this.onPhoto(this.blob);
    }
    this.close();
  }

  stop() {
    if (this.stream) {
      this.stream.getTracks().forEach((track) => track.stop());
      this.stream = null;
    }
    this.video.srcObject = null;
    if (this.stillUrl) {
      URL.revokeObjectURL(this.stillUrl);
      this.stillUrl = null;
    }
  }

  close() {
    this.stop();
    if (this.dialog.open && typeof this.dialog.close === "function") {
      this.dialog.close();
    } else {
      this.dialog.removeAttribute("open");
    }
  }
}
