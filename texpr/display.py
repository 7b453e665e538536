"""Jupyter display of texpr objects (their `_repr_html_`): program and source text as HTML,
highlighted by Pygments when it is installed (it comes with IPython and Jupyter), else an
escaped <pre>. Every piece of text is escaped: names and source never become markup."""
import html

# the Pygments lexer of each kind of text texpr shows (None: plain); te.lower's loop
# program reads as C to a highlighter
_LEXERS = {"c": "c", "cuda": "cuda", "python": "python", "text": None}


def code_html(text, language="c", title=None):
    """`text` as an HTML block, highlighted as `language` (c, cuda, python, text)."""
    head = (f'<div style="font-weight:bold;font-family:monospace">{html.escape(title)}</div>'
            if title else "")
    return f'<div class="texpr">{head}{_highlighted(text, language)}</div>'


def _highlighted(text, language):
    name = _LEXERS.get(language)
    if name is not None:
        try:
            from pygments import highlight
            from pygments.formatters import HtmlFormatter
            from pygments.lexers import get_lexer_by_name
        except ImportError:
            pass
        else:
            # inline styles: a notebook shows the colours without a stylesheet
            return highlight(text, get_lexer_by_name(name),
                             HtmlFormatter(noclasses=True, nobackground=True))
    return f"<pre>{html.escape(text)}</pre>"


def module_html(module):
    """A built module: its repr as the title, its generated source highlighted (CUDA C for
    the cuda target, C for the others)."""
    language = "cuda" if getattr(module, "target", None) == "cuda" else "c"
    return code_html(module.source, language, title=repr(module))
