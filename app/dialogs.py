"""Popups: messages (errors, confirmations), the photo chooser and the save dialog (layouts in facedepth.kv),
and :class:`DialogHost`, which opens them one at a time and knows which is showing.

Esc closes any of them (Kivy's ModalView handles it before the main window sees the key).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kivy.properties import BooleanProperty, ListProperty, ObjectProperty, StringProperty
from kivy.uix.button import Button
from kivy.uix.modalview import ModalView
from kivy.uix.popup import Popup

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm")


def is_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_SUFFIXES


Buttons = list[tuple[str, Callable[[], None] | None]]
"""A dialog's buttons: (label, action run after the dialog closes; None = just close)."""


class MessageDialog(Popup):
    """A message with one or more buttons; each button closes the dialog, then runs its action."""

    message = StringProperty("")

    def __init__(self, title: str, message: str, buttons: Buttons | None = None, **kwargs) -> None:
        super().__init__(title=title, message=message, **kwargs)
        for label, action in buttons or [("OK", None)]:
            button = Button(text=label)
            button.bind(on_release=lambda _btn, action=action: self._choose(action))
            self.ids.buttons.add_widget(button)

    def _choose(self, action: Callable[[], None] | None) -> None:
        self.dismiss()
        if action is not None:
            action()

    def press(self, label: str) -> None:
        """Presses the button labelled ``label`` (keyboard shortcuts and tests)."""
        for button in self.ids.buttons.children:
            if button.text == label:
                button.dispatch("on_release")
                return
        raise KeyError(f"no button {label!r} in dialog {self.title!r}")

    @property
    def button_labels(self) -> list[str]:
        return [button.text for button in reversed(self.ids.buttons.children)]


class OpenDialog(Popup):
    """Chooses one photo: a file list showing folders and images only, with a preview of the selection."""

    start_path = StringProperty("")
    selected = StringProperty("")
    open_action = ObjectProperty(None)

    def image_filter(self, _folder: str, name: str) -> bool:
        return is_image_name(name)

    def select(self, selection: list[str]) -> None:
        self.selected = selection[0] if selection and is_image_name(selection[0]) else ""

    def open_selected(self) -> None:
        if self.selected:
            path = self.selected
            self.dismiss()
            self.open_action(Path(path))


class SaveDialog(Popup):
    """Chooses a folder, a file name stem and the formats to write."""

    folder = StringProperty("")
    stem = StringProperty("")
    mesh_formats = ListProperty([])
    depth_formats = ListProperty([])
    wireframe = BooleanProperty(True)
    view_png = BooleanProperty(True)
    has_mesh = BooleanProperty(True)
    save_action = ObjectProperty(None)
    """Called as save_action(folder: Path, stem: str, mesh_formats, depth_formats, wireframe, view_png)."""

    def toggle(self, kind: str, fmt: str, active: bool) -> None:
        values = list(getattr(self, kind))
        if active and fmt not in values:
            values.append(fmt)
        elif not active and fmt in values:
            values.remove(fmt)
        setattr(self, kind, values)

    def choose_folder(self, selection: list[str], current: str) -> None:
        self.folder = selection[0] if selection and Path(selection[0]).is_dir() else current

    def save(self) -> None:
        stem = self.stem.strip()
        self.dismiss()
        self.save_action(Path(self.folder), stem, list(self.mesh_formats) if self.has_mesh else [],
                     list(self.depth_formats), self.wireframe and self.has_mesh, self.view_png and self.has_mesh)


class DialogHost:
    """Opens dialogs and remembers the one showing (``current``, None once it is closed)."""

    def __init__(self) -> None:
        self.current: ModalView | None = None

    def open(self, dialog: ModalView) -> ModalView:
        dialog.bind(on_dismiss=self._closed)
        self.current = dialog
        dialog.open()
        return dialog

    def message(self, title: str, message: str, buttons: Buttons | None = None) -> MessageDialog:
        return self.open(MessageDialog(title, message, buttons))

    def is_showing(self, dialog: ModalView) -> bool:
        """True while ``dialog`` is open on the window."""
        return dialog is self.current and dialog.parent is not None

    def _closed(self, dialog: ModalView, *_args) -> None:
        if self.current is dialog:
            self.current = None
