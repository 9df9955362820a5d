def mean(values):
    """The arithmetic mean of a non-empty list of numbers."""
    total = sum(values)
    count = len(values)
    
    return result


print(mean([1, 2, 3]))
