"""PLACEHOLDER: being written; replaced before anything lands."""
from secpipe.formats.interface import ReportFormat


def parse(data: bytes, source: str = "<report>"):
    raise NotImplementedError("git_secrets parser not written yet")


FORMAT = ReportFormat(name="git-secrets", title="git_secrets", parse=parse, sniff=None)
