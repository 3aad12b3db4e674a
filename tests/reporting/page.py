"""The report page as the tests read it: parsed by lxml's HTML parser, looked up by id."""
from typing import List

import lxml.html

# Attributes through which a page can make the browser fetch something.
FETCHING_ATTRIBUTES = ('src', 'href', 'srcset', 'data', 'action', 'poster')


def text(element) -> str:
    """An element's visible text, whitespace collapsed."""
    return ' '.join(element.text_content().split())


class Page:
    def __init__(self, html: str):
        self.html = html
        self.root = lxml.html.document_fromstring(html)

    @classmethod
    def read(cls, path: str) -> 'Page':
        with open(path, encoding='utf-8') as f:
            return cls(f.read())

    def by_id(self, element_id: str):
        found = self.root.get_element_by_id(element_id, None)
        assert found is not None, f'the page has no element with id {element_id!r}'
        return found

    def has_id(self, element_id: str) -> bool:
        return self.root.get_element_by_id(element_id, None) is not None

    def value(self, element_id: str) -> str:
        return text(self.by_id(element_id))

    def section(self, anchor: str) -> str:
        return text(self.by_id(anchor))

    def rows(self, table_id: str) -> List[List[str]]:
        """The body rows of a table, as the text of their cells."""
        return [[text(cell) for cell in row.findall('td')]
                for row in self.by_id(table_id).find('tbody').findall('tr')]

    def images(self) -> List[str]:
        return [image.get('src') for image in self.root.iter('img')]

    def fetched(self) -> List[str]:
        """Every URL the page would make a browser load or link to."""
        return [element.get(name) for element in self.root.iter()
                for name in FETCHING_ATTRIBUTES if element.get(name)]

    def by_class(self, name: str) -> list:
        return self.root.find_class(name)
