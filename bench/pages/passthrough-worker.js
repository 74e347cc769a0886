// A frame transform that does everything Sotto's transform does except the crypto: each
// frame's bytes are copied out and back (as into and out of wasm memory), then passed on.
// It attributes the CPU cost of E2EE between the transform machinery and the encryption.
self.onrtctransform = ({ transformer }) => {
  transformer.readable.pipeThrough(new TransformStream({
    transform(frame, controller) {
      const input = new Uint8Array(frame.data);
      frame.data = input.slice().buffer;
      controller.enqueue(frame);
    },
  })).pipeTo(transformer.writable).catch(() => {});
};
