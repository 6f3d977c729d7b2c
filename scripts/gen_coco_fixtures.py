"""Golden values for detection/eval/coco.ts from pycocotools' COCOeval.

Builds small ground-truth/detection sets that exercise each rule of COCO box evaluation,
runs pycocotools on each, and writes test/detection/fixtures/coco_eval_cases.json:
the inputs plus pycocotools' 12 summary numbers and mmdetection-style per-class AP
(precision[:, :, k, area=all, maxDets=100], mean over entries > -1, -1 when none).

    pip install pycocotools numpy
    python3 scripts/gen_coco_fixtures.py

The output is deterministic (seeded), so re-running it must leave the file unchanged.
"""

import contextlib
import copy
import io
import json
import os
from importlib.metadata import version

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'detection', 'fixtures', 'coco_eval_cases.json')


def cats(*names):
    return [{'id': i + 1, 'name': n} for i, n in enumerate(names)]


def images(n, size=(640, 480)):
    return [{'id': i + 1, 'file_name': f'{i + 1:04d}.png', 'width': size[0], 'height': size[1]} for i in range(n)]


class Builder:
    """Collects annotations with running ids (ids start at 1: pycocotools treats id 0 as 'unmatched')."""

    def __init__(self):
        self.anns = []
        self.dets = []

    def gt(self, img, cat, bbox, iscrowd=0, area=None):
        self.anns.append({
            'id': len(self.anns) + 1, 'image_id': img, 'category_id': cat, 'bbox': [float(v) for v in bbox],
            'area': float(bbox[2] * bbox[3] if area is None else area), 'iscrowd': iscrowd,
        })

    def det(self, img, cat, bbox, score):
        self.dets.append({'image_id': img, 'category_id': cat, 'bbox': [float(v) for v in bbox], 'score': float(score)})


def run_cocoeval(gt, dets):
    coco_gt = COCO()
    coco_gt.dataset = copy.deepcopy(gt)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(dets))
        ev = COCOeval(coco_gt, coco_dt, 'bbox')
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    precision = ev.eval['precision']
    per_class = {}
    for k, cat_id in enumerate(ev.params.catIds):
        name = coco_gt.loadCats(int(cat_id))[0]['name']
        p = precision[:, :, k, 0, -1]
        p = p[p > -1]
        per_class[name] = float(np.mean(p)) if p.size else -1.0
    return {'stats': [float(s) for s in ev.stats], 'per_class': per_class}


def case(name, description, categories, imgs, b):
    gt = {'images': imgs, 'annotations': b.anns, 'categories': categories}
    return {'name': name, 'description': description, 'gt': gt, 'detections': b.dets, 'expected': run_cocoeval(gt, b.dets)}


def build_cases():
    out = []

    b = Builder()
    for img, cat, box in [(1, 1, [10, 10, 50, 40]), (1, 2, [100, 120, 80, 60]), (2, 1, [300, 200, 150, 120]),
                          (2, 3, [20, 300, 20, 25]), (2, 3, [60, 300, 22, 24])]:
        b.gt(img, cat, box)
        b.det(img, cat, box, 0.9 - 0.1 * len(b.dets))
    out.append(case('perfect', 'every gt detected exactly, nothing else: 1.0 wherever gts exist',
                    cats('circle', 'square', 'triangle'), images(2), b))

    b = Builder()
    b.gt(1, 1, [10, 10, 50, 50])
    b.gt(1, 1, [200, 200, 60, 60])
    b.det(1, 1, [10, 10, 50, 50], 0.8)
    out.append(case('missed_object', 'two gts, one perfect detection: recall 0.5', cats('circle'), images(1), b))

    b = Builder()
    b.gt(1, 1, [10, 10, 50, 50])
    b.det(1, 1, [10, 10, 50, 50], 0.9)
    b.det(1, 1, [12, 10, 50, 50], 0.7)
    b.det(1, 1, [300, 300, 40, 40], 0.95)
    out.append(case('duplicate', 'a duplicate of a matched detection and a higher-scored false positive',
                    cats('circle'), images(1), b))

    b = Builder()
    b.gt(1, 1, [10, 10, 50, 50])
    b.gt(1, 2, [100, 100, 50, 50])
    b.det(1, 2, [10, 10, 50, 50], 0.9)   # right place, wrong class
    b.det(1, 2, [100, 100, 50, 50], 0.6)
    out.append(case('wrong_class', 'a detection on the right box with the wrong class', cats('circle', 'square'), images(1), b))

    b = Builder()
    rng = np.random.RandomState(7)
    for i in range(8):  # a row of heavily overlapping gts
        b.gt(1, 1, [40 + 12 * i, 50, 60, 80])
    for i in range(8):
        dx, dy = rng.uniform(-6, 6, size=2).round(2)
        b.det(1, 1, [40 + 12 * i + dx, 50 + dy, 60, 80], round(float(rng.uniform(0.3, 1.0)), 4))
    for i in range(4):  # extra detections between the gts
        b.det(1, 1, [46 + 24 * i, 52, 60, 78], round(float(rng.uniform(0.2, 0.9)), 4))
    out.append(case('crowded', 'eight overlapping gts with jittered and in-between detections: greedy matching',
                    cats('circle'), images(1), b))

    b = Builder()
    # areas: 20x20=400 small, 32x32=1024 (both small and medium), 50x50 medium,
    # 96x96=9216 (both medium and large), 200x150 large
    for j, (w, h) in enumerate([(20, 20), (32, 32), (50, 50), (96, 96), (200, 150)]):
        b.gt(1, 1, [10 + 5 * j, 10 + 210 * (j % 2), w, h])
    for j, (w, h) in enumerate([(20, 20), (32, 32), (50, 50), (96, 96), (200, 150)]):
        shift = [3, 0, 6, 10, 25][j]
        b.det(1, 1, [10 + 5 * j + shift, 10 + 210 * (j % 2), w, h], 0.5 + 0.1 * j)
    b.det(1, 1, [400, 300, 10, 10], 0.95)   # small false positive
    b.det(1, 1, [300, 10, 120, 100], 0.45)  # large false positive
    out.append(case('areas', 'small / medium / large objects incl. the boundary areas 32² and 96²',
                    cats('circle'), images(1, (640, 640)), b))

    b = Builder()
    b.gt(1, 1, [100, 100, 200, 200], iscrowd=1)
    b.gt(1, 1, [350, 50, 60, 60])
    b.det(1, 1, [110, 110, 40, 40], 0.9)    # inside the crowd region: ignored
    b.det(1, 1, [200, 200, 50, 50], 0.85)   # also inside: crowd matches repeatedly
    b.det(1, 1, [350, 50, 60, 60], 0.8)
    b.det(1, 1, [50, 50, 100, 100], 0.75)   # partly over the crowd (IoU = inter / det area = 0.25)
    out.append(case('iscrowd', 'a crowd region absorbing detections, a regular gt, and a detection half off the crowd',
                    cats('circle'), images(1), b))

    b = Builder()
    b.gt(1, 1, [0, 0, 300, 300], iscrowd=1)
    b.gt(1, 1, [50, 50, 60, 60])
    b.det(1, 1, [50, 50, 60, 60], 0.9)      # IoU 1 with the regular gt and 1 with the crowd: the regular gt wins
    b.det(1, 1, [200, 200, 30, 30], 0.8)
    out.append(case('regular_before_crowd', 'a detection on a regular gt inside a crowd region matches the regular gt',
                    cats('circle'), images(1), b))

    b = Builder()
    b.gt(1, 1, [10, 10, 50, 50])
    b.det(1, 1, [10, 10, 50, 50], 0.6)
    b.det(2, 1, [10, 10, 50, 50], 0.9)      # image 2 has no gts: false positive
    b.det(3, 2, [10, 10, 50, 50], 0.7)      # category 2 has no gts anywhere: -1
    out.append(case('empty_images', 'images without gts and a category without gts', cats('circle', 'square'), images(3), b))

    b = Builder()
    b.gt(1, 1, [10, 10, 60, 60], area=900)  # mask area smaller than the box: counts as small
    b.gt(1, 1, [200, 10, 40, 40], area=2000)
    b.det(1, 1, [10, 10, 60, 60], 0.9)
    b.det(1, 1, [205, 12, 40, 40], 0.8)
    out.append(case('gt_area_field', 'area ranges use the annotation area, not the box', cats('circle'), images(1), b))

    b = Builder()
    for i in range(12):
        b.gt(1, 1, [20 + 45 * i, 20, 40, 40])
    for i in range(12):
        b.det(1, 1, [20 + 45 * i, 22, 40, 40], 0.99 - 0.01 * i)
    for i in range(3):
        b.det(1, 1, [20 + 45 * i, 200, 40, 40], 0.995 - 0.001 * i)  # the best-scored are false positives
    out.append(case('max_dets', 'fifteen detections in one image: AR@1 and AR@10 see only the top ones',
                    cats('circle'), images(1, (640, 640)), b))

    b = Builder()
    b.gt(1, 1, [10, 10, 50, 50])
    b.gt(2, 1, [10, 10, 50, 50])
    b.det(2, 1, [70, 70, 20, 20], 0.5)      # equal scores across images: pooled in image order
    b.det(1, 1, [10, 10, 50, 50], 0.5)
    b.det(2, 1, [10, 10, 50, 50], 0.5)
    out.append(case('score_ties', 'equal scores across images keep image order (stable sort)', cats('circle'), images(2), b))

    b = Builder()
    b.gt(1, 1, [0, 0, 100, 100])
    b.det(1, 1, [0, 0, 100, 50], 0.9)       # IoU exactly 0.5
    b.det(1, 1, [0, 0, 100, 75], 0.8)       # IoU exactly 0.75 (duplicate at low thresholds)
    out.append(case('threshold_edges', 'IoU exactly at 0.5 and 0.75 counts as a match', cats('circle'), images(1), b))

    out.append(random_case())
    return out


def random_case():
    """Many images and classes, jittered detections, false positives, drops, crowds, >100 detections in one image."""
    rng = np.random.RandomState(2024)
    names = ['circle', 'square', 'triangle', 'star', 'ring']
    b = Builder()
    n_images = 12
    for img in range(1, n_images + 1):
        n_obj = 0 if img == 5 else int(rng.randint(1, 9))
        for _ in range(n_obj):
            cat = int(rng.randint(1, 5))   # category 5 ('ring') never appears in the gt
            w, h = (rng.uniform(6, 220, size=2)).round(1)
            x, y = rng.uniform(0, 400, size=2).round(1)
            crowd = int(rng.uniform() < 0.08)
            b.gt(img, cat, [x, y, w, h], iscrowd=crowd)
            if rng.uniform() < 0.15:
                continue  # missed
            for _ in range(1 + int(rng.uniform() < 0.3)):  # sometimes a duplicate
                jx, jy = (rng.normal(0, 0.12, size=2) * [w, h]).round(2)
                sw, sh = np.exp(rng.normal(0, 0.15, size=2))
                dcat = cat if rng.uniform() > 0.1 else int(rng.randint(1, 6))
                b.det(img, dcat, [x + jx, y + jy, (w * sw).round(2), (h * sh).round(2)], round(float(rng.uniform(0.05, 1)), 3))
        n_fp = 130 if img == 3 else int(rng.randint(0, 6))
        for _ in range(n_fp):
            w, h = (rng.uniform(5, 150, size=2)).round(1)
            x, y = rng.uniform(0, 450, size=2).round(1)
            b.det(img, int(rng.randint(1, 6)), [x, y, w, h], round(float(rng.uniform(0.01, 0.6)), 3))
    return case('random', 'seeded mix: 12 images, 5 classes (one without gts), jitter, duplicates, wrong classes, '
                'crowds, an image without gts, an image with over 100 detections, 3-decimal scores (ties)',
                cats(*names), images(n_images), b)


def main():
    iou_thrs = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
    rec_thrs = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
    doc = {
        'generator': 'scripts/gen_coco_fixtures.py',
        'pycocotools': version('pycocotools'),
        'numpy': np.__version__,
        'iouThrs': [float(v) for v in iou_thrs],
        'recThrs': [float(v) for v in rec_thrs],
        'cases': build_cases(),
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'w') as f:
        json.dump(doc, f, indent=1)
        f.write('\n')
    for c in doc['cases']:
        print(f"{c['name']:16s} AP={c['expected']['stats'][0]:.4f} AP50={c['expected']['stats'][1]:.4f}")


if __name__ == '__main__':
    main()
