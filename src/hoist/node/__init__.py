"""The kubelet's image half: image manager, pullers, back-off, credentials, pulled-image
records, image GC, and the runtimes they drive (CRI over containerd, or hoist's own store).

One module per concern, as ``pkg/kubelet/images`` has it; decisions are small pure
functions, side effects stay at the edges."""
