import numpy as np
import pytest

from facedepth.model import crop, spec
from facedepth.model.imageio import load_photo
from facedepth.model.inference import AtTrainingScale, load_estimator
from facedepth.model.service import DepthService, NoFaceError, camera_for_box


@pytest.fixture(scope="module")
def service(tiny_weights):
    return DepthService(load_estimator(tiny_weights))


class ConstantEstimator:
    """A generator stand-in with a known output: a face disc of code ``inner`` on background."""

    def __init__(self, inner: float = -0.5):
        y, x = np.mgrid[0:256, 0:256]
        self.code = np.where((x - 128) ** 2 + (y - 128) ** 2 < 80**2, inner, spec.BACKGROUND_CODE)
        self.calls = []

    def __call__(self, photos):
        self.calls.append(photos)
        return np.broadcast_to(self.code[None, ..., None], (len(photos), 256, 256, 1)).astype(np.float32)


def test_crop_uncrop_round_trip():
    box = crop.CropBox(cx=210.0, cy=160.0, side=180.0)
    y, x = np.mgrid[0:256, 0:256].astype(np.float32)
    values = x + 2 * y  # bilinear resampling reproduces an affine ramp exactly
    back = crop.uncrop(values, box, 400, 300)
    left, top, right, bottom = box.corners()
    v, u = np.mgrid[int(top) + 2:int(bottom) - 2, int(left) + 2:int(right) - 2]
    m = box.to_crop_matrix(256)
    expected = (m[0, 0] * u + m[0, 2]) + 2 * (m[1, 1] * v + m[1, 2])
    np.testing.assert_allclose(back[v, u], expected, atol=1e-2)
    assert np.isnan(back[0, 0]) and np.isnan(back[-1, -1])


def test_prediction_on_face(service, face_photo):
    rgb = load_photo(face_photo)
    p = service.predict(rgb)
    assert p.image is rgb
    assert p.depth_mm.shape == rgb.shape[:2] and p.depth_mm.dtype == np.float32
    assert p.code.shape == (256, 256) and p.mask.dtype == bool
    np.testing.assert_array_equal(np.isnan(p.depth_mm), ~p.mask)
    assert p.mask.any()
    # the face box sits on the astronaut's face, inside the detected face box's neighbourhood
    left, top, right, bottom = p.face.box
    assert left < p.box.cx < right and top < p.box.cy < bottom
    assert not p.mask[int(p.box.corners()[3]) + 2:].any()  # nothing below the crop
    fx, fy, cx, cy = p.camera
    assert fx == fy == pytest.approx(p.box.side * spec.NOMINAL_NEAR_MM / spec.NOMINAL_CROP_SIDE_MM)
    assert (cx, cy) == (255.5, 255.5)
    assert set(p.timings) == {"detect", "crop", "generator", "uncrop"}


def test_depth_follows_the_convention(face_photo):
    estimator = ConstantEstimator(inner=spec.NEAR_CODE)
    p = DepthService(estimator).predict(load_photo(face_photo))
    photo = estimator.calls[0]
    assert photo.shape == (1, 256, 256, 3) and photo.dtype == np.float32
    assert -1.0 <= photo.min() < -0.5 and 0.5 < photo.max() <= 1.0
    inner = p.depth_mm[p.mask]
    # the disc's inside decodes to exactly the nominal nose distance; only its blurred rim differs
    assert np.median(inner) == pytest.approx(spec.NOMINAL_NEAR_MM)
    # the predicted outline is eroded by PREDICTION_EDGE_PX crop pixels
    disc_area = np.pi * ((80 - spec.PREDICTION_EDGE_PX) * p.box.side / 256) ** 2
    assert p.mask.sum() == pytest.approx(disc_area, rel=0.05)
    assert np.isnan(p.depth_mm[~p.mask]).all()


def test_largest_of_two_faces_is_used(service, face_photo, tmp_path):
    import photo_corpus

    # (photo_corpus.two_faces' half-size copy is too small for the HOG detector; this pair is found)
    rgb = load_photo(photo_corpus.two_faces_side_by_side(tmp_path, face_photo))
    faces = service.detector.detect(rgb)
    assert len(faces) == 2
    p = service.predict(rgb)
    assert p.box.cx > 256 and p.face.area == max(f.area for f in faces)


def test_no_face(service, no_face_photo):
    with pytest.raises(NoFaceError, match="no face found.*--no-detect"):
        service.predict(load_photo(no_face_photo))


def test_no_detect_uses_the_whole_image(service, no_face_photo):
    rgb = load_photo(no_face_photo)
    p = service.predict(rgb, detect=False)
    h, w = rgb.shape[:2]
    assert p.face is None and p.box == crop.whole_image_box(w, h)
    assert p.depth_mm.shape == (h, w)
    assert p.camera == camera_for_box(p.box, w, h)
    assert p.camera[0] == pytest.approx(max(h, w) * spec.NOMINAL_NEAR_MM / spec.NOMINAL_CROP_SIDE_MM)


def test_rejects_non_rgb(service):
    with pytest.raises(ValueError, match="uint8 RGB"):
        service.predict(np.zeros((64, 64), np.uint8))


def test_trim_prediction_erodes_the_face_outline():
    import numpy as np

    from facedepth.model import depthcode, spec

    code = np.ones((64, 64), np.float32)
    code[10:50, 20:40] = -0.5
    trimmed = depthcode.trim_prediction(code, edge_px=3)
    mask = depthcode.face_mask(trimmed)
    assert mask.sum() == (40 - 6) * (20 - 6)
    assert mask[13:47, 23:37].all() and not mask[10:13].any()
    assert np.all(trimmed[~mask] == spec.BACKGROUND_CODE)
    assert depthcode.trim_prediction(code, edge_px=0) is code


def test_every_face_is_found_largest_first_and_each_can_be_predicted(tmp_path, face_photo):
    import photo_corpus as corpus

    rgb = load_photo(corpus.two_faces_side_by_side(tmp_path, face_photo))
    service = DepthService(ConstantEstimator())
    faces = service.find_faces(rgb)
    assert len(faces) == 2 and faces[0].area > faces[1].area and faces[0].box[0] > faces[1].box[0]
    for face in faces:
        p = service.predict(rgb, face=face)
        assert p.face is face
        left, top, right, bottom = face.box
        assert left < p.box.cx < right and top < p.box.cy < bottom
    assert service.predict(rgb).face.box == faces[0].box  # without a face named: the largest


def test_low_scoring_detections_beside_a_clear_face_are_dropped(face_photo):
    # dlib's HOG detector also fires on the mission patch on the sample's sleeve (score 0.07 vs 1.61)
    faces = DepthService(ConstantEstimator()).find_faces(load_photo(face_photo))
    assert len(faces) == 1 and faces[0].score > 1.0


def test_crop_grid_depth_is_the_photo_depth_unresampled(face_photo):
    p = DepthService(ConstantEstimator(inner=spec.NEAR_CODE)).predict(load_photo(face_photo))
    crop_depth = p.crop_depth_mm()
    assert crop_depth.shape == (256, 256)
    np.testing.assert_allclose(np.nanmin(crop_depth), np.nanmin(p.depth_mm), atol=1e-3)
    assert np.isfinite(crop_depth).sum() > np.isfinite(p.depth_mm).sum()  # the face spans < 256 photo pixels
    assert p.crop_image().shape == (256, 256, 3)


def test_zoomed_box_is_the_crop_then_the_zoom():
    box = crop.CropBox(cx=210.3, cy=160.7, side=180.0)
    zoom = spec.JITTER_SIZE / spec.IMAGE_SIZE
    about_centre = np.array([[zoom, 0, 127.5 * (1 - zoom)], [0, zoom, 127.5 * (1 - zoom)], [0, 0, 1]])
    then_zoomed = about_centre @ np.vstack([box.to_crop_matrix(256), [0, 0, 1]])
    view = crop.zoomed(box, zoom)
    np.testing.assert_allclose(view.to_crop_matrix(256), then_zoomed[:2], atol=1e-12)
    assert view.side == pytest.approx(box.side / zoom)


def test_the_training_scale_zoom_is_folded_into_the_crop(face_photo):
    """The service crops the photo once, straight to the square the generator sees, and maps the code back
    from there: the depth of the crop -> zoom -> generator -> unzoom -> uncrop path, with two resamplings
    fewer."""
    rgb = load_photo(face_photo)
    inner = ConstantEstimator(inner=spec.NEAR_CODE)
    at_scale = AtTrainingScale(inner)
    folded = DepthService(at_scale).predict(rgb)
    assert folded.view == crop.zoomed(folded.box, at_scale.zoom) and folded.view.side < folded.box.side
    np.testing.assert_array_equal(inner.calls[-1][0], spec.to_network_input(crop.crop_image(rgb, folded.view)))
    unfolded = DepthService(lambda photos: at_scale(photos)).predict(rgb)  # not an AtTrainingScale: no folding
    assert unfolded.view == unfolded.box == folded.box
    overlap = (folded.mask & unfolded.mask).sum() / (folded.mask | unfolded.mask).sum()
    assert overlap > 0.97
    both = folded.mask & unfolded.mask
    same = np.abs(folded.depth_mm[both] - unfolded.depth_mm[both]) < 1e-3
    assert same.mean() > 0.95  # all but the outline's bilinear rim, which each path blends at its own scale
    assert folded.camera == unfolded.camera  # the camera's scale is the crop rule's square, not the view


def test_isolating_keeps_only_the_face_joined_to_the_crop_centre(face_photo):
    class TwoBlobs(ConstantEstimator):
        def __init__(self):
            super().__init__()
            y, x = np.mgrid[0:256, 0:256]
            self.code = np.where((x - 128) ** 2 + (y - 128) ** 2 < 50**2, -0.5, spec.BACKGROUND_CODE)
            self.code[100:160, 220:250] = -0.6  # a neighbour's face reaching into the crop, not touching

    service = DepthService(TwoBlobs())
    rgb = load_photo(face_photo)
    plain, alone = service.predict(rgb), service.predict(rgb, isolate=True)
    assert alone.mask.sum() < plain.mask.sum() and not (alone.mask & ~plain.mask).any()
    assert np.isfinite(plain.crop_depth_mm()[100:160, 220:250]).any()
    assert not np.isfinite(alone.crop_depth_mm()[100:160, 220:250]).any()
    assert np.isfinite(alone.crop_depth_mm()[128, 128])


def test_region_at_follows_four_connectivity():
    from facedepth.model.depthcode import region_at

    mask = np.zeros((8, 8), dtype=bool)
    mask[1:4, 1:4] = True
    mask[4, 4] = True  # touches only at a corner
    mask[6, 1:7] = True
    assert region_at(mask, 2, 2).sum() == 9
    assert region_at(mask, 6, 6).sum() == 6
    assert region_at(mask, 0, 0).sum() == 9  # off the mask: the region nearest the point
    assert not region_at(np.zeros((4, 4), dtype=bool), 1, 1).any()


def test_code_is_mapped_back_without_blending_face_and_background():
    """Along the outline a plain bilinear uncrop mixes the face's code with the background's and invents
    depth between the face and the far background; the face-aware warp keeps every face pixel a face value."""
    from facedepth.model import depthcode

    code = ConstantEstimator(inner=spec.NEAR_CODE).code.astype(np.float32)
    box = crop.CropBox(cx=200.3, cy=150.6, side=300.0)
    warped = depthcode.uncropped(code, box, 400, 300)
    face = depthcode.face_mask(warped)
    assert face.sum() == pytest.approx(np.pi * (80 * 300 / 256) ** 2, rel=0.03)
    np.testing.assert_allclose(warped[face], spec.NEAR_CODE, atol=1e-6)
    assert (warped[~face] == spec.BACKGROUND_CODE).all()
    plain = crop.uncrop(code, box, 400, 300, fill=spec.BACKGROUND_CODE)
    assert (np.abs(plain[depthcode.face_mask(plain)] - spec.NEAR_CODE) > 0.05).any()  # what it replaces
