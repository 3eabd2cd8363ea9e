"""Batches for training: shuffling from a seed, drop_last, per-channel normalisation, CIFAR-style
augmentation, delivery on the training device, and the next batch prepared on a host thread
while the current one computes.

The order and the augmentation of epoch e depend only on (seed, e), so a run resumed at epoch e
sees exactly the batches the uninterrupted run saw.
"""
import queue
import threading

import numpy

from minifft import backend


def channel_stats(images):
    """Per-channel mean and standard deviation of (n, C, H, W) images."""
    return images.mean(axis=(0, 2, 3)), images.std(axis=(0, 2, 3)) + 1e-8


def random_crop_flip(batch, rng, padding=4):
    """Random crop of each image from its zero-padded version, and a horizontal flip half the time."""
    n, c, h, w = batch.shape
    padded = numpy.pad(batch, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dy = rng.integers(0, 2 * padding + 1, n)
    dx = rng.integers(0, 2 * padding + 1, n)
    flip = rng.random(n) < 0.5
    out = numpy.empty_like(batch)
    for i in range(n):
        crop = padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
        out[i] = crop[:, :, ::-1] if flip[i] else crop
    return out


class DataLoader:
    """Iterate (images, labels) batches as minifft Tensors on ``device``.

    ``mean``/``std`` normalise per channel; ``augment`` (a function of (batch, rng)) runs on the
    host before normalisation, only when ``shuffle`` is on (training). ``shard`` (a
    ``minifft.distributed.Shard``) keeps this process's part of every epoch's order.
    """

    def __init__(self, images, labels, batch_size, shuffle=False, seed=0, drop_last=False,
                 mean=None, std=None, augment=None, device='cpu', prefetch=True, shard=None):
        if len(images) != len(labels):
            raise ValueError(f"DataLoader: {len(images)} images but {len(labels)} labels")
        if batch_size < 1:
            raise ValueError(f"DataLoader: expected batch_size >= 1, got {batch_size}")
        self.images, self.labels = images, labels
        self.batch_size, self.shuffle, self.seed, self.drop_last = batch_size, shuffle, seed, drop_last
        shape = (1, -1, 1, 1)
        self.mean = None if mean is None else numpy.asarray(mean, numpy.float32).reshape(shape)
        self.std = None if std is None else numpy.asarray(std, numpy.float32).reshape(shape)
        self.augment, self.device, self.prefetch, self.shard = augment, device, prefetch, shard
        self.epoch = 0

    def __len__(self):
        n = len(self.images) if self.shard is None else self.shard.length(len(self.images))
        full, rest = divmod(n, self.batch_size)
        return full if self.drop_last or rest == 0 else full + 1

    def set_epoch(self, epoch):
        self.epoch = epoch

    def _host_batches(self):
        rng = numpy.random.default_rng((self.seed, self.epoch))
        order = rng.permutation(len(self.images)) if self.shuffle else numpy.arange(len(self.images))
        if self.shard is not None:  # every rank drew the same order; each takes its part and augments its own way
            order = self.shard(order)
            rng = numpy.random.default_rng((self.seed, self.epoch, self.shard.rank))
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            x = self.images[idx]
            if self.augment is not None and self.shuffle:
                x = self.augment(x, rng)
            if self.mean is not None:
                x = (x - self.mean) / self.std
            yield numpy.ascontiguousarray(x, numpy.float32), self.labels[idx]

    def __iter__(self):
        from minifft import Tensor
        batches = self._prefetched() if self.prefetch else self._host_batches()
        for x, y in batches:
            yield (Tensor(backend.to_device(x, self.device), device=self.device),
                   Tensor(backend.to_device(y, self.device), device=self.device))

    def _prefetched(self):
        """The host batches, produced one ahead on a background thread."""
        slots = queue.Queue(maxsize=2)
        done = object()
        stop = threading.Event()

        def produce():
            try:
                for item in self._host_batches():
                    if stop.is_set():
                        return
                    slots.put(item)
            except BaseException as error:  # hand the error to the consumer
                slots.put(error)
                return
            slots.put(done)

        worker = threading.Thread(target=produce, daemon=True)
        worker.start()
        try:
            while True:
                item = slots.get()
                if item is done:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while worker.is_alive():  # unblock a producer waiting on a full queue
                try:
                    slots.get_nowait()
                except queue.Empty:
                    worker.join(0.01)
