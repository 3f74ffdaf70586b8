"""ImageRecords -> training tensors: the torch Dataset, augmentation presets and sampling."""
