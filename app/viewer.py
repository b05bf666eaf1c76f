"""Interactive 3D view of the face mesh, drawn with Kivy's own OpenGL into an off-screen Fbo.

The Fbo has a depth buffer and a small GLSL program (Lambert lighting from a head light plus vertex
colour); the geometry is a few ``Mesh`` instructions of at most 65,535 vertices each
(:mod:`facedepth.app.meshbuffers`). Mouse and touch: drag to rotate, wheel or pinch to zoom, right- or middle-drag
to pan, double-click to reset. Render modes: "shaded" (clay grey, lit), "colour" (the photo as texture, lit;
vertex colours when the scene has no texture), "wireframe" (the mesh's edges) and "points" (the point cloud).
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
from kivy.graphics import Callback, Canvas, ClearBuffers, ClearColor, Color, Fbo, InstructionGroup, Mesh, Rectangle
from kivy.graphics.opengl import GL_DEPTH_TEST, glDisable, glEnable
from kivy.graphics.texture import Texture
from kivy.graphics.transformation import Matrix
from kivy.metrics import dp
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, ObjectProperty, OptionProperty
from kivy.uix.widget import Widget

from facedepth.app.backdrop import nearest, opaque_blit, watch_opacity
from facedepth.app.meshbuffers import SceneBuffers

RENDER_MODES = ("shaded", "colour", "wireframe", "points")
FIELD_OF_VIEW = 30.0
"""Vertical field of view in degrees."""
HOME_DISTANCE = 1.2 / math.tan(math.radians(FIELD_OF_VIEW / 2))
"""Camera distance at which the normalised mesh (largest extent 2) fills a square view with a margin."""
HOME_YAW, HOME_PITCH = -22.0, 6.0
"""The view starts turned a little (three-quarter view), so the face's relief shows at once."""
ZOOM_RANGE = (0.3, 8.0)
DEGREES_PER_DP = 0.45
_GL_PROGRAM_POINT_SIZE = 0x8642

VERTEX_SHADER = """
#ifdef GL_ES
    precision highp float;
#endif
attribute vec3 v_pos;
attribute vec3 v_normal;
attribute vec3 v_color;
attribute vec2 v_uv;
uniform mat4 u_modelview;
uniform mat4 u_projection;
uniform float u_point_size;
varying vec3 frag_normal;
varying vec3 frag_color;
varying vec2 frag_uv;
void main(void) {
    vec4 eye = u_modelview * vec4(v_pos, 1.0);
    frag_normal = (u_modelview * vec4(v_normal, 0.0)).xyz;
    frag_color = v_color;
    frag_uv = v_uv;
    gl_PointSize = u_point_size;
    gl_Position = u_projection * eye;
}
"""

FRAGMENT_SHADER = """
#ifdef GL_ES
    precision highp float;
#endif
varying vec3 frag_normal;
varying vec3 frag_color;
varying vec2 frag_uv;
uniform sampler2D texture0;
uniform float u_lit;
uniform float u_use_color;
uniform float u_use_texture;
uniform vec3 u_base_color;
void main(void) {
    vec3 color = mix(frag_color, texture2D(texture0, frag_uv).rgb, u_use_texture);
    vec3 base = mix(u_base_color, color, u_use_color);
    float len = length(frag_normal);
    float lambert = len > 0.0001 ? abs(dot(frag_normal / len, vec3(0.0, 0.0, 1.0))) : 1.0;
    float light = mix(1.0, 0.28 + 0.72 * lambert, u_lit);
    gl_FragColor = vec4(base * light, 1.0);
}
"""


def perspective(fov_deg: float, aspect: float, near: float, far: float) -> np.ndarray:
    f = 1.0 / math.tan(math.radians(fov_deg) / 2)
    return np.array([[f / aspect, 0, 0, 0], [0, f, 0, 0],
                     [0, 0, (far + near) / (near - far), 2 * far * near / (near - far)], [0, 0, -1, 0]])


def rotation_x(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[1, 0, 0, 0], [0, c, -s, 0], [0, s, c, 0], [0, 0, 0, 1]], dtype=np.float64)


def rotation_y(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, 0, s, 0], [0, 1, 0, 0], [-s, 0, c, 0], [0, 0, 0, 1]], dtype=np.float64)


def translation(x: float, y: float, z: float) -> np.ndarray:
    m = np.eye(4)
    m[:3, 3] = (x, y, z)
    return m


def texture_from(rgb: np.ndarray) -> Texture:
    """(h, w, 3) uint8, top row first -> a linearly filtered Kivy texture whose (0, 0) is the bottom-left
    pixel, as OpenGL and the scene's texture coordinates expect (uploads: main thread only)."""
    height, width = rgb.shape[:2]
    texture = Texture.create(size=(width, height), colorfmt="rgb")
    texture.min_filter = texture.mag_filter = "linear"
    texture.wrap = "clamp_to_edge"
    texture.blit_buffer(np.ascontiguousarray(rgb[::-1]).tobytes(), colorfmt="rgb", bufferfmt="ubyte")
    return texture


def to_kivy(m: np.ndarray) -> Matrix:
    """Row-major numpy 4x4 (column vectors) -> Kivy Matrix (OpenGL's column-major order)."""
    matrix = Matrix()
    matrix.set(flat=[float(v) for v in m.T.ravel()])
    return matrix


MODE_PRIMITIVES = {"shaded": "triangles", "colour": "triangles", "wireframe": "lines", "points": "points"}
"""What each render mode draws."""
PRIMITIVE_VERTICES = {"triangles": 3, "lines": 2, "points": 1}


class MeshView(Widget):
    render_mode = OptionProperty("colour", options=RENDER_MODES)
    yaw = NumericProperty(HOME_YAW)
    pitch = NumericProperty(HOME_PITCH)
    zoom = NumericProperty(1.0)
    pan = ListProperty([0.0, 0.0])
    """Camera offset in viewer units (x right, y up)."""
    has_scene = BooleanProperty(False)
    triangle_count = NumericProperty(0)
    """Triangles held by the view's Mesh instructions (all chunks)."""
    background = ListProperty([0.11, 0.12, 0.14, 1.0])
    base_color = ListProperty([0.80, 0.78, 0.75])
    scene = ObjectProperty(None, allownone=True)

    def __init__(self, **kwargs) -> None:
        self._touches: list = []
        self._texture: Texture | None = None
        self._groups: dict[str, InstructionGroup] = {}
        self._meshes: dict[str, list[Mesh]] = {}
        super().__init__(**kwargs)
        with self.canvas:  # under the layer: what shows while there is no scene
            self._background_color = Color(*self.background)
            self._background = Rectangle(pos=self.pos, size=self.size)
        self.layer = Canvas()
        """What changes as the camera moves: the Fbo and an opaque copy of it onto the widget, while there is
        a scene (in this widget's canvas unless a :class:`~facedepth.app.backdrop.BackdropLayout` keeps it
        live over its backdrop; without a scene the background and any placeholder over it show)."""
        self.canvas.add(self.layer)
        self.fbo = Fbo(size=(max(1, self.width), max(1, self.height)), with_depthbuffer=True,
                       vs=VERTEX_SHADER, fs=FRAGMENT_SHADER)
        self._blit, self._frame = opaque_blit(self.fbo.texture)
        if not self.fbo.shader.success:
            raise RuntimeError("the 3D view's shader did not compile")
        with self.fbo:
            self._clear_color = ClearColor(*self.background)
            ClearBuffers(clear_depth=True)
            Callback(self._enable_depth_test)
            self._content = InstructionGroup()
            Callback(self._disable_depth_test)
        self.bind(pos=self._layout, size=self._layout, yaw=self._update_camera, pitch=self._update_camera,
                  zoom=self._update_camera, pan=self._update_camera, render_mode=self._show_mode,
                  background=self._set_background, base_color=self._set_uniforms)
        self._set_uniforms()
        self._update_camera()
        self._opacity = 1.0
        self.bind(has_scene=self._show_layer)
        watch_opacity(self, self._set_opacity)

    def _set_opacity(self, opacity: float) -> None:
        self._opacity = opacity
        self._show_layer()

    def _show_layer(self, *_args) -> None:
        """The layer draws the view while there is a scene and the view is not drawn with opacity 0."""
        shown = self.has_scene and self._opacity > 0
        if shown != bool(self.layer.children):
            self.layer.clear()
            if shown:
                self.layer.add(self.fbo)
                self.layer.add(self._blit)

    # ----------------------------------------------------------------- scene
    def set_scene(self, scene: SceneBuffers | None) -> None:
        """Replaces the geometry (None = empty view) and resets the camera."""
        self._content.clear()
        self._groups.clear()
        self._meshes.clear()
        self.scene = scene
        self._texture = None
        if scene is not None:
            fmt = [(b"v_pos", 3, "float"), (b"v_normal", 3, "float"), (b"v_color", 3, "float"), (b"v_uv", 2, "float")]
            if scene.texture is not None:
                self._texture = texture_from(scene.texture)
            for name, buffers in (("triangles", scene.triangles), ("lines", scene.lines), ("points", scene.points)):
                group = InstructionGroup()
                texture = self._texture if name == "triangles" else None
                meshes = [Mesh(vertices=chunk.vertices, indices=chunk.indices, fmt=fmt, mode=buffers.mode,
                               texture=texture) for chunk in buffers.chunks]
                for mesh in meshes:
                    group.add(mesh)
                self._groups[name], self._meshes[name] = group, meshes
        self.has_scene = scene is not None
        self.triangle_count = sum(len(m.indices) // 3 for m in self._meshes.get("triangles", []))
        self.reset_view()
        self._show_mode()

    def drawn_count(self) -> int:
        """How many primitives the view draws now: triangles, lines or points, by render mode."""
        kind = MODE_PRIMITIVES[self.render_mode]
        shown = self._groups.get(kind)
        if shown is None or shown not in self._content.children:
            return 0
        return sum(len(mesh.indices) for mesh in self._meshes[kind]) // PRIMITIVE_VERTICES[kind]

    def _show_mode(self, *_args) -> None:
        self._content.clear()
        if not self._groups:
            self.fbo.ask_update()
            return
        self._content.add(self._groups[MODE_PRIMITIVES[self.render_mode]])
        self._set_uniforms()

    def _set_uniforms(self, *_args) -> None:
        self.fbo["u_lit"] = 1.0 if self.render_mode in ("shaded", "colour", "points") else 0.0
        self.fbo["u_use_color"] = 0.0 if self.render_mode == "shaded" else 1.0
        self.fbo["u_use_texture"] = 1.0 if self.render_mode == "colour" and self._texture is not None else 0.0
        self.fbo["u_base_color"] = tuple(float(c) for c in self.base_color[:3])
        self.fbo["u_point_size"] = float(max(1.0, round(dp(2))))
        self.fbo.ask_update()

    def _set_background(self, *_args) -> None:
        self._background_color.rgba = self.background
        self._clear_color.rgba = self.background
        self.fbo.ask_update()

    # ----------------------------------------------------------------- camera
    def reset_view(self) -> None:
        self.yaw, self.pitch, self.zoom, self.pan = HOME_YAW, HOME_PITCH, 1.0, [0.0, 0.0]

    @property
    def distance(self) -> float:
        """Camera distance: the home distance, farther in a view narrower than tall, divided by the zoom."""
        aspect = max(self.width, 1) / max(self.height, 1)
        return HOME_DISTANCE / min(1.0, aspect) / self.zoom

    @property
    def view_matrix(self) -> np.ndarray:
        """Model-view matrix (4x4, column vectors) of the current camera."""
        return translation(self.pan[0], self.pan[1], -self.distance) @ rotation_x(self.pitch) @ rotation_y(self.yaw)

    @property
    def projection_matrix(self) -> np.ndarray:
        aspect = max(self.width, 1) / max(self.height, 1)
        return perspective(FIELD_OF_VIEW, aspect, 0.05, 100.0)

    def _update_camera(self, *_args) -> None:
        self.fbo["u_modelview"] = to_kivy(self.view_matrix)
        self.fbo["u_projection"] = to_kivy(self.projection_matrix)
        self.fbo.ask_update()

    def _layout(self, *_args) -> None:
        size = (max(1, int(self.width)), max(1, int(self.height)))
        if tuple(self.fbo.size) != size:
            self.fbo.size = size
            self._frame.texture = nearest(self.fbo.texture)
        self._frame.pos, self._frame.size = (round(self.x), round(self.y)), size  # whole pixels: a plain copy
        self._background.pos, self._background.size = self.pos, self.size
        self._update_camera()

    @staticmethod
    def _enable_depth_test(_instr) -> None:
        glEnable(GL_DEPTH_TEST)
        with contextlib.suppress(Exception):  # OpenGL ES has no such switch (it always uses gl_PointSize)
            glEnable(_GL_PROGRAM_POINT_SIZE)  # desktop GL: let the shader set the point size

    @staticmethod
    def _disable_depth_test(_instr) -> None:
        glDisable(GL_DEPTH_TEST)

    # ----------------------------------------------------------------- input
    def on_touch_down(self, touch) -> bool:
        if not self.collide_point(*touch.pos):
            return False
        if touch.is_mouse_scrolling:
            factor = 1.15 if touch.button == "scrolldown" else 1 / 1.15
            self.zoom_by(factor)
            return True
        if touch.is_double_tap:
            self.reset_view()
            return True
        touch.grab(self)
        self._touches.append(touch)
        return True

    def on_touch_move(self, touch) -> bool:
        if touch.grab_current is not self:
            return False
        if len(self._touches) >= 2:
            a, b = self._touches[:2]
            before = math.dist(a.ppos, b.ppos)
            after = math.dist(a.pos, b.pos)
            if before > 0:
                self.zoom_by(after / before)
            return True
        dx, dy = touch.dx, touch.dy
        if getattr(touch, "button", "left") in ("right", "middle"):
            units_per_px = 2.0 * math.tan(math.radians(FIELD_OF_VIEW / 2)) * self.distance / max(self.height, 1)
            self.pan = [self.pan[0] + dx * units_per_px, self.pan[1] + dy * units_per_px]
        else:
            self.yaw = (self.yaw + dx / dp(1) * DEGREES_PER_DP) % 360.0
            self.pitch = min(89.0, max(-89.0, self.pitch - dy / dp(1) * DEGREES_PER_DP))
        return True

    def on_touch_up(self, touch) -> bool:
        if touch.grab_current is not self:
            return False
        touch.ungrab(self)
        if touch in self._touches:
            self._touches.remove(touch)
        return True

    def zoom_by(self, factor: float) -> None:
        self.zoom = min(ZOOM_RANGE[1], max(ZOOM_RANGE[0], self.zoom * factor))

    # ----------------------------------------------------------------- output
    def render_pixels(self) -> np.ndarray:
        """The current view as an (H, W, 3) uint8 RGB array, top row first (drawn now, on the main thread)."""
        self.fbo.draw()
        width, height = (int(v) for v in self.fbo.size)
        rgba = np.frombuffer(self.fbo.pixels, dtype=np.uint8).reshape(height, width, 4)
        return np.ascontiguousarray(rgba[::-1, :, :3])
