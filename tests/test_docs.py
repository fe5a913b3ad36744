"""The README and the pages of docs/ link to files that exist, and to
headings that exist in them."""
import re

from conftest import ROOT

PAGES = [ROOT / 'README.md'] + sorted((ROOT / 'docs').glob('*.md'))
LINK = re.compile(r'\]\(([^)\s]+)\)')   # [text](target) and ![alt](target)


def anchors(page):
    """The anchors a code host gives the headings of a Markdown page."""
    headings = re.findall(r'^#+ (.*)$', page.read_text(encoding='utf-8'),
                          re.MULTILINE)
    return {re.sub(r'[^\w\- ]', '', h.lower()).replace(' ', '-')
            for h in headings}


def test_every_relative_link_names_a_file_of_the_checkout():
    checked = 0
    for page in PAGES:
        for target in LINK.findall(page.read_text(encoding='utf-8')):
            if re.match(r'[a-z]+://', target) or target.startswith('#'):
                continue
            name, _, anchor = target.partition('#')
            path = (page.parent / name).resolve()
            assert path.is_file(), '%s links to %s' % (page.name, target)
            if anchor:
                assert anchor in anchors(path), '%s links to %s' % (
                    page.name, target)
            checked += 1
    assert len(PAGES) >= 8 and checked > 30
