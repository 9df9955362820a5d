"""2-D geometry helpers for a plotting tool: points, vectors, polygons and bounding boxes."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Point:
    x: float
    y: float

    def __add__(self, other):
        return Point(self.x + other.x, self.y + other.y)

    def __sub__(self, other):
        return Point(self.x - other.x, self.y - other.y)

    def scale(self, factor):
        return Point(self.x * factor, self.y * factor)

    def length(self):
        return math.hypot(self.x, self.y)

    def distance_to(self, other):
        return (self - other).length()


def dot(a, b):
    return a.x * b.x + a.y * b.y


def cross(a, b):
    return a.x * b.y - a.y * b.x


def angle_between(a, b):
    norms = a.length() * b.length()
    if norms == 0:
        raise ValueError("zero-length vector")
    return math.acos(max(-1.0, min(1.0, dot(a, b) / norms)))


def polygon_area(points):
    area = 0.0
    for i in range(len(points)):
        j = (i + 1) % len(points)
        area += cross(points[i], points[j])
    return abs(area) / 2


def centroid(points):
    if not points:
        raise ValueError("no points")
    n = len(points)
    return Point(sum(p.x for p in points) / n, sum(p.y for p in points) / n)


def bounding_box(points):
    xs = [p.x for p in points]
    ys = [p.y for p in points]
    return Point(min(xs), min(ys)), Point(max(xs), max(ys))


def rotate(point, angle, origin=Point(0.0, 0.0)):
    shifted = point - origin
    c, s = math.cos(angle), math.sin(angle)
    return Point(shifted.x * c - shifted.y * s, shifted.x * s + shifted.y * c) + origin


def is_convex(points):
    signs = set()
    n = len(points)
    for i in range(n):
        a, b, c = points[i], points[(i + 1) % n], points[(i + 2) % n]
        turn = cross(b - a, c - b)
        if turn != 0:
            signs.add(turn > 0)
    return len(signs) <= 1
