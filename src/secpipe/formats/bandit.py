"""PLACEHOLDER: being written; replaced before anything lands."""
from secpipe.formats.interface import ReportFormat


def parse(data: bytes, source: str = "<report>"):
    raise NotImplementedError("bandit parser not written yet")


FORMAT = ReportFormat(name="bandit", title="bandit", parse=parse, sniff=None)
