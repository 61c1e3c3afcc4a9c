"""How many of the real feed documents give their stories a lead image we may use.

Parses every document of ``feeds/`` in the shared data (``manifest.jsonl``) with the product's
parser and counts the documents, and the items, that yield an ``image_url`` (an https URL on a
public host, from an RSS enclosure, ``media:content``/``media:thumbnail``, an Atom enclosure
link or a JSON Feed ``image``/``banner_image``). Article pages are not fetched here, so
``og:image`` from teaser expansion is not counted.

    python -m benchmarks.feed_images
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.common import read_jsonl, require_shared_data
from bot.pipeline.feeds import parse_feed


def measure(feeds_dir: Path) -> dict[str, int]:
    """Counts over the manifest: documents, documents with items, items, and with images."""
    counts = dict.fromkeys(
        ("documents", "with_items", "with_image", "items", "items_with_image"), 0
    )
    for row in read_jsonl(feeds_dir / "manifest.jsonl"):
        content = (feeds_dir / row["path"]).read_bytes()
        parsed = parse_feed(content, url=f"https://feeds.example/{row['path']}")
        counts["documents"] += 1
        counts["items"] += len(parsed.items)
        with_image = sum(1 for item in parsed.items if item.image_url)
        counts["items_with_image"] += with_image
        counts["with_items"] += int(bool(parsed.items))
        counts["with_image"] += int(with_image > 0)
    return counts


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    counts = measure(require_shared_data() / "feeds")
    docs, with_items = counts["documents"], counts["with_items"]
    print(
        f"documents: {docs}; with items: {with_items}; "
        f"with an image URL: {counts['with_image']} "
        f"({counts['with_image'] / docs:.1%} of all documents, "
        f"{counts['with_image'] / max(1, with_items):.1%} of those with items)"
    )
    print(
        f"items: {counts['items']}; with an image URL: {counts['items_with_image']} "
        f"({counts['items_with_image'] / max(1, counts['items']):.1%})"
    )


if __name__ == "__main__":
    main()
