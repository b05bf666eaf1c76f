"""Redraw only what changes: a layout whose children are drawn into an off-screen texture (the backdrop) that
is re-rendered only when one of them changed, so that a frame in which only a "live" layer changed (the 3-D
view turning) costs a copy of that texture, not a redraw of every panel, label and image of the window.

Kivy redraws the whole window canvas whenever any instruction in it changes. With software OpenGL (llvmpipe)
that redraw, not the 3-D view, took most of a frame of the FaceDepth window while the view turned (measured
with glFinish around each part; the figures are in the README's benchmark section). The backdrop is an
:class:`~kivy.graphics.Fbo`, and Kivy re-renders an Fbo's children only when one of them was flagged, so the
panels are drawn again only after a label, image, button or layout change. The backdrop is copied onto the
window opaquely (blending off, nearest, whole pixels), which also makes Kivy's clearing of the whole window
before each frame redundant: while the layout covers the window it is skipped.

A live layer is a canvas of a descendant (the 3-D view's Fbo and the copy of it) that is drawn over the
backdrop instead of inside it, so its changes never invalidate the backdrop. The backdrop holds what is
under the layer and anything the tree draws over it, and the widget shows or hides its layer's content
itself: the 3-D view hides it while it has no scene (so its placeholder label shows) and while it is drawn
with opacity 0 (:func:`watch_opacity`; its opaque copy cannot be half transparent). The layer is in window
coordinates: no relative layout may sit between the layout and the live widget.
"""

from __future__ import annotations

from collections.abc import Callable

from kivy.core.window import Window
from kivy.graphics import (
    Callback,
    Canvas,
    ClearBuffers,
    ClearColor,
    Fbo,
    PopMatrix,
    PushMatrix,
    Rectangle,
    RenderContext,
    Translate,
)
from kivy.graphics.opengl import GL_BLEND, glDisable, glEnable
from kivy.uix.widget import Widget


class BackdropLayout:
    """Mixin for a Kivy layout (``class Root(BackdropLayout, BoxLayout)``): see the module docstring.

    ``backdrop_renders`` counts how often the backdrop was drawn (what the tests check); ``keep_live``
    moves a descendant's layer over the backdrop.
    """

    backdrop_clear = (0.0, 0.0, 0.0, 1.0)
    """The colour under the children in the backdrop (set it to the window's background colour)."""

    def __init__(self, **kwargs) -> None:
        self.backdrop_renders = 0
        self.canvas = Canvas()
        with self.canvas:
            self.backdrop = Fbo(size=(1, 1), with_stencilbuffer=True)
        blit, self._backdrop_rect = opaque_blit(self.backdrop.texture)
        self.canvas.add(blit)
        self.live_layers = Canvas()
        self.canvas.add(self.live_layers)
        with self.backdrop.before:
            ClearColor(*self.backdrop_clear)
            ClearBuffers(clear_stencil=True)
            Callback(self._count_render)
            PushMatrix()
            self._origin = Translate(0, 0)
        with self.backdrop.after:
            PopMatrix()
        super().__init__(**kwargs)
        self.bind(pos=self._fit_backdrop, size=self._fit_backdrop, parent=self._on_parent)  # type: ignore[attr-defined]
        self._fit_backdrop()
        self._on_parent(self, self.parent)  # type: ignore[attr-defined]

    # Children draw into the backdrop, not into this widget's canvas (the trick of Kivy's FBO examples).
    def add_widget(self, *args, **kwargs):
        return self._on_backdrop(super().add_widget, *args, **kwargs)  # type: ignore[misc]

    def remove_widget(self, *args, **kwargs):
        return self._on_backdrop(super().remove_widget, *args, **kwargs)  # type: ignore[misc]

    def clear_widgets(self, *args, **kwargs):
        return self._on_backdrop(super().clear_widgets, *args, **kwargs)  # type: ignore[misc]

    def _on_backdrop(self, method, *args, **kwargs):
        canvas, self.canvas = self.canvas, self.backdrop
        try:
            return method(*args, **kwargs)
        finally:
            self.canvas = canvas

    def _count_render(self, _instruction) -> None:
        self.backdrop_renders += 1

    def _fit_backdrop(self, *_args) -> None:
        size = (max(1, round(self.width)), max(1, round(self.height)))  # type: ignore[attr-defined]
        if tuple(self.backdrop.size) != size:
            self.backdrop.size = size
            self._backdrop_rect.texture = nearest(self.backdrop.texture)
        self._origin.xy = (-self.x, -self.y)  # type: ignore[attr-defined]
        self._backdrop_rect.pos, self._backdrop_rect.size = self.pos, size  # type: ignore[attr-defined]

    def _on_parent(self, _widget, parent) -> None:
        Window.funbind("on_draw", self._draw_window)
        if parent is Window:
            Window.fbind("on_draw", self._draw_window)

    def _draw_window(self, window) -> bool:
        """The window's ``on_draw`` without Kivy's clearing of the whole window first, while this layout
        covers it: the backdrop's copy writes every pixel (StencilPush clears the stencil itself, and nothing
        drawn in the window uses its depth buffer). True: Kivy's own handler does not run."""
        if tuple(self.pos) != (0, 0) or tuple(self.size) != tuple(window.size):  # type: ignore[attr-defined]
            return False  # not covered (e.g. mid-resize): Kivy clears and draws
        window.render_context.draw()
        return True

    # ------------------------------------------------------------------ live layers
    def keep_live(self, widget: Widget, layer: Canvas) -> None:
        """Draws ``layer`` (a canvas of ``widget``, a descendant) over the backdrop from now on (``layer``
        leaves ``widget.canvas`` if it was there; showing or hiding its content stays the widget's job)."""
        if layer in widget.canvas.children:
            widget.canvas.remove(layer)
        self.live_layers.add(layer)


def watch_opacity(widget: Widget, changed: Callable[[float], None]) -> None:
    """Calls ``changed(opacity)`` now and whenever the opacity ``widget`` is drawn with changes: the product
    of its own and its ancestors' (re-bound when an ancestor is added, removed or replaced)."""
    bound: list = []

    def follow(*_args) -> None:
        for node, uid_opacity, uid_parent in bound:
            node.unbind_uid("opacity", uid_opacity)
            node.unbind_uid("parent", uid_parent)
        bound.clear()
        node, opacity = widget, 1.0
        while isinstance(node, Widget):
            opacity *= node.opacity
            bound.append((node, node.fbind("opacity", follow), node.fbind("parent", follow)))
            node = node.parent
        changed(opacity)

    follow()


BLIT_FRAGMENT_SHADER = """$HEADER$
void main(void) {
    gl_FragColor = texture2D(texture0, tex_coord0);
}
"""
"""A plain copy of the texture's pixels, alpha and all (the pixels are final: blending is off)."""


def nearest(texture):
    texture.min_filter = texture.mag_filter = "nearest"
    return texture


def opaque_blit(texture) -> tuple[RenderContext, Rectangle]:
    """A canvas that copies ``texture`` onto its rectangle as is (no blending, no colour, no opacity: hide
    it by taking it out of the canvas), and that rectangle (keep its position and size in whole pixels, its
    size the texture's, for an exact copy)."""
    blit = RenderContext(use_parent_projection=True, use_parent_modelview=True, use_parent_frag_modelview=True,
                         fs=BLIT_FRAGMENT_SHADER)
    if not blit.shader.success:
        raise RuntimeError("the copy shader did not compile")
    with blit:
        Callback(_blend_off)
        rectangle = Rectangle(size=texture.size, texture=nearest(texture))
        Callback(_blend_on)
    return blit, rectangle


def _blend_off(_instruction) -> None:
    glDisable(GL_BLEND)


def _blend_on(_instruction) -> None:
    glEnable(GL_BLEND)
