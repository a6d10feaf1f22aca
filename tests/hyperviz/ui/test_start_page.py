"""The start page (issue 11): shown while no workspace is open and after an open fails."""
from PySide6 import QtCore, QtWidgets


def test_without_a_workspace_the_start_page_offers_recent_demo_open_and_build(blank_window, settings, qtbot,
                                                                              workspace_path, tmp_path):
    window = blank_window
    page = window.start_page
    assert window.centralWidget().currentWidget() is page
    assert set(page.buttons) == {"demo", "open", "build", "import"}
    stats = window.selection_panel.stats                         # the empty statistics: headers not cut
    header = stats.horizontalHeader()
    assert all(header.sectionSize(j) >= header.sectionSizeFromContents(j).width() for j in range(stats.columnCount()))
    settings.add_recent(str(tmp_path / "gone.h5"))
    settings.add_recent(str(workspace_path))
    page.fill_recent()
    items = [page.recent_list.item(i) for i in range(page.recent_list.count())]
    assert [i.data(QtCore.Qt.ItemDataRole.UserRole) for i in items] == [str(workspace_path), str(tmp_path / "gone.h5")]
    assert "(missing)" in items[1].text() and not items[1].flags() & QtCore.Qt.ItemFlag.ItemIsEnabled
    triggered = []
    window.jobs_menu.act_build.triggered.disconnect()
    window.jobs_menu.act_build.triggered.connect(lambda: triggered.append("build"))
    page.buttons["build"].click()
    assert triggered == ["build"]
    with qtbot.waitSignal(window.loaded, timeout=60_000):
        qtbot.mouseClick(page.recent_list.viewport(), QtCore.Qt.MouseButton.LeftButton,
                         pos=page.recent_list.visualItemRect(items[0]).center())
    assert window.centralWidget().currentWidget() is window.centralWidget().map_page
    assert window.map.isVisible() and window.query_bar.isVisible()


def test_a_failed_open_shows_the_start_page_with_the_reason(blank_window, qtbot, tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_text("not a workspace")
    with qtbot.waitSignal(blank_window.load_failed, timeout=60_000):
        blank_window.open_workspace(bad)
    page = blank_window.start_page
    assert blank_window.centralWidget().currentWidget() is page
    assert page.problem.isVisible() and page.problem.text().startswith("Could not open the workspace:")
    assert "bad.h5" in page.problem.text() and "\n" not in page.problem.text()


def test_a_failed_open_while_a_map_is_shown_keeps_the_map(window, qtbot, tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_text("not a workspace")
    with qtbot.waitSignal(window.load_failed, timeout=60_000):
        window.open_workspace(bad)
    assert window.centralWidget().currentWidget() is window.centralWidget().map_page
    assert window.state.n > 0


def test_main_without_the_demo_opens_the_start_page_saying_so(qtbot, monkeypatch, tmp_path):
    import hyperviz.app as app_module
    import hyperviz.ui.main_window as main_window
    from hyperviz.ui.settings import Settings

    ini = str(tmp_path / "settings.ini")
    monkeypatch.setattr(main_window, "Settings", lambda: Settings(QtCore.QSettings(ini, QtCore.QSettings.Format.IniFormat)))
    monkeypatch.setattr(app_module, "default_workspace", lambda: None)
    monkeypatch.setattr(app_module, "_tear_down", lambda app, window: window.close())
    seen = {}

    def exec_(app):
        window = next(w for w in QtWidgets.QApplication.topLevelWidgets() if isinstance(w, main_window.MainWindow)
                      and w.isVisible())
        seen.update(page=window.centralWidget().currentWidget() is window.start_page,
                    problem=window.start_page.problem.text(), demo=window.act_demo.isEnabled())
        return 0

    monkeypatch.setattr(QtWidgets.QApplication, "exec", exec_)
    assert app_module.main([]) == 0
    assert seen["page"] and "demo is missing" in seen["problem"] and seen["demo"] is False
