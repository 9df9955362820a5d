import math


def circle_area(radius):
    return 


def main():
    print(circle_area(2.0))
