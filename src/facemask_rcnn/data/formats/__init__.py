"""Annotation formats on disk <-> ImageRecords: COCO, VIA, YOLO, label PNGs and face boxes."""
