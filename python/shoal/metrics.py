"""The Prometheus text format (0.0.4) that shoald's `stats` answers with, as a dict."""


def _value(text):
    if text.lstrip("-").isdigit():
        return int(text)
    return float(text)  # also "+Inf", "-Inf", "NaN"


def parse_prometheus(text):
    """{sample: value}; a labelled sample keeps its labels in its name, as written."""
    samples = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        # Label values may hold spaces: the value starts after the closing brace.
        close = line.rfind("}")
        if close >= 0:
            head, rest = line[:close + 1], line[close + 1:]
        else:
            head, _, rest = line.partition(" ")
        fields = rest.split()
        if not fields:
            raise ValueError(f"a sample without a value: {line!r}")
        samples[head.strip()] = _value(fields[0])
    return samples
