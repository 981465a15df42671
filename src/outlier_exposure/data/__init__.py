"""Image data: from a data spec string to batches on the device.

Images move down this list:

    spec.py          "cifar10:test", "npz:PATH", "folder:PATH:32", "noise:blobs" -> a loader
      sources.py     user files (.npz, .npy, image folders)          \
      noise.py       synthetic OOD sets, already normalised           |-> ImageSet
      catalog/       named datasets: registry, entries, recipes       |   (imageset.py:
      formats/       one reader per on-disk format (archives, 80M     |    uint8 (N, H, W, C)
                     Tiny Images, lazy folders)                      /     plus labels)
    resize.py        every resize and grey/RGB rule, in one place (used by all of the above,
                     and by spec.fit_to_shape to match the model's input shape)
    datasets.py      a spec for a role (train, outliers, OOD test) with modifiers.py
                     (`@first5000`) and validation.py (`val:KIND:SPEC` sets)
    batches.py       uint8 sets -> normalised, augmented float batches on the device
    placement.py     where a training set lives (device, pinned host, lazy + prefetch)

storage/ is shared with the text side: roots.py decides where datasets live (--data-root,
environment, defaults), download.py fetches and verifies files, cache.py keeps decoded arrays.

Import the module that defines a name (`from outlier_exposure.data.spec import load_spec`);
this package file imports nothing, so `import outlier_exposure.data` stays cheap.
"""
