"""The client proper: HTTP GETs of `zarr.json` documents and chunks, decoded with numpy and zstandard."""

import json
import struct
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import zstandard

_DTYPES = {"uint8": "<u1", "int8": "<i1", "uint16": "<u2", "int16": "<i2", "float16": "<f2", "float32": "<f4",
           "uint32": "<u4"}


class ServeError(Exception):
    """The server refused or failed a request (its JSON message is the text)."""


class _Connection:
    """GETs relative to the server's root URL, with the bearer token when one is given."""

    def __init__(self, url, token=None, timeout=300):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def get(self, path, missing_ok=False):
        request = urllib.request.Request(f"{self.url}/{path.lstrip('/')}")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            if error.code == 404 and missing_ok:
                return None
            body = error.read()
            try:
                message = json.loads(body)["error"]
            except (ValueError, KeyError, TypeError):
                message = body[:200].decode("utf-8", "replace")
            raise ServeError(f"{path}: HTTP {error.code}: {message}") from None

    def json(self, path):
        return json.loads(self.get(path))


def _decode_chunk(data, codecs, dtype, shape):
    """A chunk's bytes through the array's codecs (bytes, zstd or blosc as TomoStore serves them)."""
    for codec in reversed(codecs[1:]):
        name = codec["name"]
        if name == "zstd":
            data = zstandard.ZstdDecompressor().decompress(data, max_output_size=int(np.prod(shape)) * dtype.itemsize)
        elif name == "blosc":
            data = _blosc_decode(data)
        else:
            raise ServeError(f"codec {name} is not supported by tomostore_client")
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _blosc_decode(frame):
    """The blosc frames TomoStore serves: one block, zstd inside (or a plain copy), byte shuffle."""
    version, _, flags, typesize = frame[0], frame[1], frame[2], frame[3]
    nbytes, blocksize, cbytes = struct.unpack_from("<iii", frame, 4)
    if version != 2 or blocksize != nbytes or cbytes != len(frame):
        raise ServeError("blosc frame of a layout tomostore_client does not read (several blocks)")
    if flags & 0x02:  # stored as a plain copy
        return bytes(frame[16:16 + nbytes])
    start = struct.unpack_from("<i", frame, 16)[0]
    size = struct.unpack_from("<i", frame, start)[0]
    raw = zstandard.ZstdDecompressor().decompress(frame[start + 4:start + 4 + size], max_output_size=nbytes)
    if flags & 0x01 and typesize > 1:
        count = nbytes // typesize
        raw = np.frombuffer(raw, np.uint8)[:count * typesize].reshape(typesize, count).T.tobytes()
    return raw


class Array:
    """One pyramid level of a served dataset: ``a[z0:z1, y0:y1, x0:x1]`` reads that box as numpy."""

    def __init__(self, connection, path):
        self._c = connection
        self.path = path
        meta = connection.json(f"{path}/zarr.json")
        self.shape = tuple(meta["shape"])
        self.chunks = tuple(meta["chunk_grid"]["configuration"]["chunk_shape"])
        self.dtype = np.dtype(_DTYPES[meta["data_type"]])
        fill = meta.get("fill_value", 0)
        self.fill_value = float("nan") if fill == "NaN" else fill
        self._codecs = meta["codecs"]

    def __repr__(self):
        return f"Array({self.path!r}, shape={self.shape}, dtype={self.dtype})"

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (key,)
        key = key + (slice(None),) * (3 - len(key))
        box = []
        for k, n in zip(key, self.shape):
            if isinstance(k, int):
                k = slice(k, k + 1)
            start, stop, step = k.indices(n)
            if step != 1:
                raise IndexError("only contiguous boxes (step 1) are read")
            box.append((start, max(start, stop)))
        out = self.read(box)
        squeeze = tuple(i for i, k in enumerate(key) if isinstance(k, int))
        return out.squeeze(axis=squeeze) if squeeze else out

    def read(self, box):
        """The box ((z0, z1), (y0, y1), (x0, x1)) as a numpy array; chunks are fetched in parallel."""
        out = np.full([b - a for a, b in box], self.fill_value, dtype=self.dtype)
        ranges = [range(a // c, (b + c - 1) // c) if b > a else range(0) for (a, b), c in zip(box, self.chunks)]
        indices = [(i, j, k) for i in ranges[0] for j in ranges[1] for k in ranges[2]]

        def fetch(index):
            return index, self._c.get(f"{self.path}/c/{index[0]}/{index[1]}/{index[2]}", missing_ok=True)

        with ThreadPoolExecutor(max_workers=min(8, max(1, len(indices)))) as pool:
            for index, data in pool.map(fetch, indices):
                if data is None:
                    continue  # not stored: fill value
                chunk = _decode_chunk(data, self._codecs, self.dtype, self.chunks)
                src, dst = [], []
                for axis in range(3):
                    lo = index[axis] * self.chunks[axis]
                    a, b = max(box[axis][0], lo), min(box[axis][1], lo + self.chunks[axis])
                    src.append(slice(a - lo, b - lo))
                    dst.append(slice(a - box[axis][0], b - box[axis][0]))
                out[tuple(dst)] = chunk[tuple(src)]
        return out


class Dataset:
    """A served dataset (an OME-Zarr image): level 0 by indexing, other levels by ``level(l)``."""

    def __init__(self, connection, name):
        self._c = connection
        self.name = name
        self.attributes = connection.json(f"{name}/zarr.json").get("attributes", {})
        self.levels = len(self.attributes.get("ome", {}).get("multiscales", [{}])[0].get("datasets", [])) or 1
        self._levels = {}

    def level(self, l=0):
        if l not in self._levels:
            self._levels[l] = Array(self._c, f"{self.name}/{l}")
        return self._levels[l]

    @property
    def shape(self):
        return self.level(0).shape

    @property
    def dtype(self):
        return self.level(0).dtype

    def __getitem__(self, key):
        return self.level(0)[key]

    def __repr__(self):
        return f"Dataset({self.name!r}, shape={self.shape}, levels={self.levels})"


try:  # a torch IterableDataset when torch is installed; nothing needs torch otherwise
    import torch.utils.data as _torch_data

    _TileBase = _torch_data.IterableDataset
except ImportError:
    _torch_data = None
    _TileBase = object


class TileStream(_TileBase):
    """Endless labelled random tiles of a corpus. Tile k (k = 0, 1, …) comes from a sample and a
    position drawn from (seed, k) alone: the same seed gives the same tiles in the same order.
    Under a PyTorch DataLoader, worker w of W yields the tiles k ≡ w (mod W)."""

    def __init__(self, corpus, size, seed):
        self.corpus, self.size, self.seed = corpus, size, seed

    def tile(self, k):
        """Tile k: a dict with ``tomogram`` (float32, z y x), ``labels``, ``sample`` and ``origin`` (z, y, x)."""
        c = self.corpus
        rng = np.random.default_rng([self.seed, k])
        sample = int(rng.integers(c.samples))
        shape = c.sample_shape
        origin = [int(rng.integers(0, max(1, n - self.size + 1))) for n in shape]
        box = tuple(slice(o, min(n, o + self.size)) for o, n in zip(origin, shape))
        return {"tomogram": c.array(sample, "tomogram")[box], "labels": c.array(sample, "labels")[box],
                "sample": sample, "origin": tuple(origin)}

    def __iter__(self):
        worker, workers = 0, 1
        if _torch_data is not None:
            info = _torch_data.get_worker_info()
            if info is not None:
                worker, workers = info.id, info.num_workers
        k = worker
        while True:
            yield self.tile(k)
            k += workers


class Corpus:
    """A served corpus: samples by index, computed by the server when first asked for."""

    def __init__(self, connection, name):
        self._c = connection
        self.name = name
        attributes = connection.json(f"{name}/zarr.json")["attributes"]["tomostore"]
        self.samples = attributes["samples"]
        recipe = attributes["corpus"]
        self.sample_shape = tuple(reversed(recipe["size"]))  # the recipe gives x, y, z
        self.recipe = recipe
        self._arrays = {}
        self._lock = threading.Lock()

    def array(self, i, what="tomogram"):
        """Sample i's ``tomogram``, ``grand-model`` or ``labels`` (level 0)."""
        key = (i, what)
        with self._lock:
            if key not in self._arrays:
                self._arrays[key] = Array(self._c, f"{self.name}/{i:06d}/{what}/0")
            return self._arrays[key]

    @property
    def classes(self):
        """The class table of the labels, {value: name} (read from sample 0's OME label image)."""
        if not hasattr(self, "_classes"):
            meta = self._c.json(f"{self.name}/{0:06d}/labels/zarr.json")
            props = meta["attributes"]["ome"].get("image-label", {}).get("properties", [])
            self._classes = {p["label-value"]: p["name"] for p in props}
        return self._classes

    def sample(self, i):
        """Sample i as a dict of whole arrays."""
        return {what: self.array(i, what)[:] for what in ("tomogram", "grand-model", "labels")}

    def tiles(self, size=64, seed=0):
        """Endless labelled tiles of ``size``³ voxels (cut at the sample's edge), reproducible by seed;
        a torch IterableDataset when torch is installed."""
        return TileStream(self, size, seed)


class Store:
    """A served store."""

    def __init__(self, url, token=None):
        self._c = _Connection(url, token)
        self.url = self._c.url

    def _root(self):
        return self._c.json("zarr.json")["attributes"]["tomostore"]

    def datasets(self):
        """Names of the datasets served (complete ones)."""
        return [d["name"] for d in self._root()["datasets"]]

    def corpora(self):
        """Names of the corpora served."""
        return [c["name"] for c in self._root()["corpora"]]

    def __getitem__(self, name):
        return Dataset(self._c, name)

    def corpus(self, name):
        return Corpus(self._c, name)


def open(url, token=None):
    """The store served at ``url`` (``http://HOST:PORT``)."""
    return Store(url, token)
