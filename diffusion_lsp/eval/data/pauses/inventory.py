"""A small stock ledger for a shop: items, movements, and the reports the owner asks for."""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date


@dataclass
class Item:
    sku: str
    name: str
    unit_price: float
    reorder_level: int = 5


@dataclass
class Movement:
    sku: str
    quantity: int
    day: date
    note: str = ""


@dataclass
class Ledger:
    items: dict[str, Item] = field(default_factory=dict)
    movements: list[Movement] = field(default_factory=list)

    def add_item(self, item):
        if item.sku in self.items:
            raise ValueError(f"duplicate sku: {item.sku}")
        self.items[item.sku] = item

    def record(self, sku, quantity, day, note=""):
        if sku not in self.items:
            raise KeyError(sku)
        self.movements.append(Movement(sku, quantity, day, note))

    def stock(self, sku):
        return sum(m.quantity for m in self.movements if m.sku == sku)

    def stock_levels(self):
        levels = defaultdict(int)
        for movement in self.movements:
            levels[movement.sku] += movement.quantity
        return dict(levels)

    def to_reorder(self):
        levels = self.stock_levels()
        return [
            item for item in self.items.values() if levels.get(item.sku, 0) <= item.reorder_level
        ]

    def stock_value(self):
        total = 0.0
        for sku, count in self.stock_levels().items():
            total += count * self.items[sku].unit_price
        return round(total, 2)

    def movements_between(self, start, end):
        return [m for m in self.movements if start <= m.day <= end]


def load_items(path):
    ledger = Ledger()
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            ledger.add_item(Item(row["sku"], row["name"], float(row["price"])))
    return ledger


def average_price(items):
    if not items:
        return 0.0
    return sum(item.unit_price for item in items) / len(items)
