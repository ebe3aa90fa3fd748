"""Client for stores served by ``tomostore serve``: pure Python (numpy, zstandard, urllib).

    import tomostore_client
    s = tomostore_client.open("http://127.0.0.1:8000", token=None)
    s.datasets()                      # dataset names
    box = s["exp/t1"][10:70, 0:64, 5:200]  # numpy, axes (z, y, x)
    for tile in s.corpus("c1").tiles(size=64, seed=0):   # endless, reproducible by seed
        tile["tomogram"], tile["labels"], tile["sample"], tile["origin"]

``tiles`` is a PyTorch ``IterableDataset`` when torch is installed (and a plain iterable when not):
``DataLoader(s.corpus("c1").tiles(64, seed=0), batch_size=8, num_workers=4)`` gives each worker
its own share of the tiles.
"""

from .client import Array, Corpus, ServeError, Store, TileStream, open

__all__ = ["open", "Store", "Array", "Corpus", "TileStream", "ServeError"]
