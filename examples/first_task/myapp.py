# myapp.py
from pq import PQ

app = PQ()


@app.task
def add(a: int, b: int) -> int:
    return a + b
