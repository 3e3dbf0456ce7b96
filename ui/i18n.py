"""Every word the dashboard shows, in Chinese and English. tr(key, lang) picks one; a test
checks that every entry has both. KPI names come from metrics.kpis.KPIS (also in both)."""

from __future__ import annotations

from metrics.kpis import KPIS
from ui import i18n_apps as lists_words
from ui.fmt import Lang, kind

TEXT: dict[str, tuple[str, str]] = {
    # navigation groups
    "group.director": ("中心主任", "Director"),
    "group.supervisor": ("窗口与科室", "Supervisors"),
    "group.reform": ("改革成效", "Reform"),
    "group.steward": ("数据管理", "Data steward"),
    # the monthly report (ui/monthly.py)
    "monthly.title": ("{center}运行月报", "{center}: monthly report"),
    "monthly.subtitle": (
        "范围：{scope}　期间：{start} 至 {end}　生成：{generated}",
        "Scope: {scope} · Period: {start} to {end} · Generated: {generated}",
    ),
    "monthly.whole_center": ("全中心", "whole center"),
    "monthly.note": (
        "按时办结率等时效指标统计本月办结的办件；办件量与渠道指标统计本月申请的办件；"
        "在办红牌为月末仍未办结且已超承诺时限的办件。环比对比上月，同比对比去年同月。",
        "Time and on-time figures count applications completed in the month; volume and "
        "channel figures count those submitted in it; open red cards are applications still "
        "open at the month's end past their promised limit. MoM compares with the month "
        "before, YoY with the same month a year earlier.",
    ),
    "monthly.met": ("达标", "met"),
    "monthly.missed": ("未达标", "missed"),
    "monthly.col.kpi": ("指标", "KPI"),
    "monthly.col.value": ("本月", "This month"),
    "monthly.col.target": ("目标", "Target"),
    "monthly.col.met": ("达标", "Met"),
    "monthly.col.previous": ("上月", "Last month"),
    "monthly.col.mom": ("环比", "MoM"),
    "monthly.col.year_ago": ("去年同月", "A year ago"),
    "monthly.col.yoy": ("同比", "YoY"),
    "monthly.col.reform": ("改革", "Reform"),
    "monthly.section.kpis": ("一、主要指标", "1. Key indicators"),
    "monthly.section.departments": (
        "二、部门排名（按按时办结率）",
        "2. Departments by on-time rate",
    ),
    "monthly.section.drag": (
        "三、拖累按时办结率的事项",
        "3. Matters pulling the on-time rate down",
    ),
    "monthly.section.cards": ("四、红牌", "4. Red cards"),
    "monthly.section.satisfaction": ("五、差评与整改", "5. Bad reviews and rectification"),
    "monthly.section.reforms": ("六、改革成效", "6. Reform effects"),
    "monthly.cards_summary": (
        "月末在办红牌 {open} 件；本月超期办结 {closed} 件。",
        "{open} red cards open at the month's end; {closed} applications completed late "
        "in the month.",
    ),
    "monthly.none_late": ("本月没有超期办结的办件。", "No application was completed late."),
    "monthly.none_open_red": ("月末没有在办红牌。", "No red card was open at the month's end."),
    "monthly.none_closed_late": ("本月没有超期办结的办件。", "No application completed late."),
    "monthly.none_bad_reviews": ("本月没有差评。", "No bad review this month."),
    "monthly.none_reforms": ("没有登记的改革。", "No reform is registered."),
    "monthly.empty": ("本月没有数据。", "No data this month."),
    "monthly.more_rows": (
        "另有 {n} 行，见 Excel 工作簿。",
        "{n} more rows are in the Excel workbook.",
    ),
    "monthly.cover.center": ("中心", "Center"),
    "monthly.cover.month": ("月份", "Month"),
    "monthly.cover.period": ("期间", "Period"),
    "monthly.cover.scope": ("范围", "Scope"),
    "monthly.cover.generated": ("生成时间", "Generated"),
    "monthly.cover.note": ("口径", "Definitions"),
    "monthly.sheet.cover": ("说明", "About"),
    "monthly.sheet.kpis": ("主要指标", "KPIs"),
    "monthly.sheet.departments": ("部门排名", "Departments"),
    "monthly.sheet.drag": ("拖累按时率的事项", "On-time drag"),
    "monthly.sheet.open_red": ("在办红牌", "Open red cards"),
    "monthly.sheet.closed_late": ("超期办结", "Completed late"),
    "monthly.sheet.bad_reviews": ("差评整改", "Bad reviews"),
    "monthly.sheet.reforms": ("改革成效", "Reforms"),
    "monthly.sheet.series": ("近12个月", "Last 12 months"),
    "data.alerts_failed": ("提醒发送失败", "Alerts that could not be delivered"),
    "data.no_alert_failures": (
        "最近一周的提醒都已送达。",
        "Every alert of the last week was delivered.",
    ),
    "page.alerts": ("我的提醒", "My alerts"),
    "alerts.note": (
        "红黄牌提醒和每日早报发到这里；提醒的范围由您的账号决定。",
        "Where your red and yellow card alerts and the morning digest go; what they cover "
        "comes from your account.",
    ),
    "alerts.email": ("电子邮箱", "E-mail address"),
    "alerts.webhook": ("群机器人", "Group robot"),
    "alerts.no_webhook": ("不使用", "None"),
    "alerts.new_cards": ("新增红黄牌时提醒我", "Alert me of new yellow and red cards"),
    "alerts.digest": ("工作日早上发送在办红黄牌汇总", "Send the morning digest on working days"),
    "alerts.lang": ("提醒语言", "Language of the alerts"),
    "alerts.save": ("保存", "Save"),
    "alerts.saved": ("已保存。", "Saved."),
    "alerts.invalid": (
        "未保存：请检查电子邮箱地址。",
        "Not saved: check the e-mail address.",
    ),
    "monthly.box": ("月报", "Monthly report"),
    "monthly.month": ("月份", "Month"),
    "monthly.build": ("生成月报", "Build the report"),
    "monthly.download_pdf": ("下载 PDF（A4）", "Download the PDF (A4)"),
    "monthly.download_xlsx": ("下载 Excel 工作簿", "Download the Excel workbook"),
    "monthly.download": (
        "下载本月月报（PDF 与 Excel）",
        "Download the monthly report (PDF and Excel)",
    ),
    # sidebar: language and filters
    "app.title": ("一窗通 · 政务服务效能", "OneWindow · service efficiency"),
    "lang.label": ("语言", "Language"),
    "filters.title": ("筛选", "Filters"),
    "filters.period": ("期间", "Period"),
    "filters.from": ("开始日期", "From"),
    "filters.to": ("结束日期", "To"),
    "filters.department": ("部门", "Department"),
    "filters.matter": ("事项", "Matter"),
    "filters.channel": ("渠道", "Channel"),
    "filters.window": ("窗口", "Window"),
    "filters.staff": ("经办人", "Staff"),
    "filters.all": ("全部", "All"),
    "filters.showing": ("{start} 至 {end}", "{start} to {end}"),
    "filters.previous": ("环比：{start} 至 {end}", "MoM: {start} to {end}"),
    "filters.year_ago": ("同比：{start} 至 {end}", "YoY: {start} to {end}"),
    "compare.previous": ("环比", "MoM"),
    "compare.year_ago": ("同比", "YoY"),
    "problem.sentence": (
        "筛选条件有误，因此没有显示任何数字：{problems}。请在左侧修改筛选条件。",
        "Nothing is shown because the filters are wrong: {problems}. Change the filters on "
        "the left.",
    ),
    "problem.unknown": ("数据中没有{field}{values}", "there is no {field} {values} in the data"),
    "problem.reversed": (
        "开始日期 {start} 晚于结束日期 {end}",
        "the period starts on {start}, after it ends on {end}",
    ),
    "period.this_month": ("本月", "This month"),
    "period.last_month": ("上月", "Last month"),
    "period.this_quarter": ("本季度", "This quarter"),
    "period.ytd": ("今年以来", "Year to date"),
    "period.last_12_months": ("近12个月", "Last 12 months"),
    "period.custom": ("自定义", "Custom"),
    "channel.window": ("窗口", "Window"),
    "channel.online": ("网上", "Online"),
    "channel.mobile": ("移动端", "Mobile"),
    "channel.kiosk": ("自助终端", "Kiosk"),
    "channel.mail": ("邮寄", "Mail"),
    "channel.other": ("其他", "Other"),
    # states every page can be in
    "empty.title": ("还没有数据", "No data yet"),
    "empty.body": (
        "仓库为空。加载演示中心：在终端运行 `onewindow demo`；或加载自己的导出文件："
        "`onewindow load 文件 --profile 配置.toml`，也可以在「数据状况」页上传文件。",
        "The warehouse is empty. Load the demo center by running `onewindow demo`, or your own "
        "exports with `onewindow load FILE --profile PROFILE.toml`, or upload a file on the "
        "Data health page.",
    ),
    "state.no_data_in_period": (
        "所选期间和筛选条件下没有数据。请扩大期间或减少筛选。",
        "No data for the chosen period and filters. Widen the period or remove a filter.",
    ),
    "state.busy": (
        "数据仓库正在更新，请稍后刷新页面。",
        "The warehouse is being updated; refresh the page in a moment.",
    ),
    "state.too_new": (
        "数据仓库由更新版本的一窗通写入，本版本不能读取。请升级一窗通。",
        "The warehouse was written by a newer OneWindow; this version cannot read it. "
        "Upgrade OneWindow.",
    ),
    "state.damaged": (
        "数据仓库的两份副本都已损坏，无法读取。请从备份恢复数据目录。",
        "Both copies of the warehouse are damaged and cannot be read. Restore the warehouse "
        "folder from a backup.",
    ),
    "state.copy_damaged": (
        "读取时发现一份数据仓库副本已损坏。请刷新页面：将改用另一份副本，下一次加载会重建它。",
        "A copy of the warehouse turned out to be damaged while reading it. Refresh the page: "
        "the other copy is read now, and the next load rebuilds the damaged one.",
    ),
    "state.failed": (
        "无法显示本页：{reason}",
        "This page cannot be shown: {reason}",
    ),
    "download.csv": ("下载 CSV", "Download CSV"),
    "download.xlsx": ("下载 Excel", "Download Excel"),
    "target.met": ("达标", "on target"),
    "target.missed": ("未达标", "below target"),
    "target.label": ("目标 {target}", "target {target}"),
    "target.summary": (
        "{met} 项达标，{missed} 项未达标：{names}",
        "{met} on target, {missed} below target: {names}",
    ),
    "target.all_met": ("全部 {met} 项指标达标", "All {met} targets met"),
    "target.line": ("目标", "Target"),
    "chart.month": ("月份", "Month"),
    "chart.cards": ("未办结红黄牌（件）", "Open cards (applications)"),
    "chart.no_data": (
        "所选期间和筛选条件下没有可画的数据。",
        "Nothing to draw for the chosen period and filters.",
    ),
    "chart.partial": (
        "{month}只含 {end} 及以前的数据，不是整月",
        "{month} holds data up to {end} only, not a whole month",
    ),
    "chart.partial_start": (
        "{month}的数据从月中开始，不是整月",
        "{month} holds data from mid-month only, not a whole month",
    ),
    "chart.partial_mark": ("{month}（至{day}日）", "{month} (to {day})"),
    "table.empty": ("没有记录。", "No rows."),
    "table.print_cut": (
        "打印只含前 {n} 行，完整表格请下载 CSV 或 Excel。",
        "Print shows the first {n} rows only; download the CSV or Excel file for all of them.",
    ),
    "chart.kpi": ("指标", "KPI"),
    # overview
    "overview.trends": ("月度趋势", "Monthly trends"),
    "overview.league": ("部门排名", "Department league table"),
    "overview.league_note": ("按按时办结率从低到高排列。", "Sorted by on-time rate, lowest first."),
    "overview.drag": (
        "拉低按时办结率最多的十个事项",
        "The ten matters that pull the on-time rate down most",
    ),
    "overview.drag_note": (
        "损失百分点 = 该事项超期件数 ÷ 全部办结件数：若这些件按时办结，按时办结率会提高这么多。",
        "Points lost = the matter's overdue applications ÷ all completed: the on-time rate "
        "would rise by this much had they been on time.",
    ),
    # matters
    "matters.all": ("全部事项", "All matters"),
    "matters.search": ("搜索事项（编码或名称）", "Search matters (code or name)"),
    "matters.pick": ("查看单个事项", "Look at one matter"),
    "matters.distribution": ("办理时长分布", "Processing time distribution"),
    "matters.promised": ("承诺时限", "Promised limit"),
    "matters.statutory": ("法定时限", "Statutory limit"),
    "matters.trend": ("月度趋势", "Monthly trend"),
    "matters.channels": ("渠道构成", "Channel mix"),
    "matters.map": ("流程图", "Process map"),
    "matters.map_note": (
        "节点为环节，连线为环节之间的流转：线越粗次数越多，颜色越深中位工作小时越长。",
        "Nodes are steps, edges are transitions: thicker means more often, darker means a "
        "longer median in working hours.",
    ),
    "matters.transitions": ("环节流转", "Transitions"),
    "matters.rework": ("返工（补正）", "Rework"),
    "matters.none": ("没有事项", "No matters"),
    "matters.limit_days": ("{days} 个工作日", "{days} working days"),
    # bottlenecks
    "bottlenecks.ranked": ("耗时最多的流转", "Transitions ranked by total time"),
    "bottlenecks.top": ("耗时最多的流转", "Largest time sink"),
    "bottlenecks.top_share": ("占全部流转时间", "Share of all transition time"),
    "bottlenecks.handovers": ("跨部门交接次数", "Handovers between departments"),
    "bottlenecks.slowest_rise": ("变慢最多的环节", "Step that slowed most"),
    "bottlenecks.matrix": (
        "部门交接矩阵（中位工作小时）",
        "Handover matrix (median working hours)",
    ),
    "bottlenecks.no_handovers": (
        "所选范围内没有跨部门交接。",
        "No handovers between departments in this selection.",
    ),
    "bottlenecks.slower": ("变慢的环节", "Steps that got slower"),
    "bottlenecks.slower_note": (
        "近 {recent} 个月（截至 {end}）与之前 {before} 个月相比的中位工作小时，"
        "两边各至少 {min} 次。",
        "Median working hours in the {recent} months up to {end} against the {before} months "
        "before, at least {min} transitions on each side.",
    ),
    "bottlenecks.none_slower": ("没有明显变慢的环节。", "No step got slower."),
    "bottlenecks.trend": ("变慢环节的月度中位工作小时", "Monthly median of the slowed steps"),
    # supervision
    "supervision.red": ("红牌（已超期）", "Red cards (overdue)"),
    "supervision.yellow": ("黄牌（即将超期）", "Yellow cards (due soon)"),
    "supervision.due_today": ("今天到期", "Due today"),
    "supervision.by": ("按{dim}统计", "By {dim}"),
    "supervision.list": ("红黄牌清单（最紧急在前）", "Open cards, most urgent first"),
    "supervision.none": ("没有红黄牌。", "No open cards."),
    "supervision.as_of": ("截至 {at}", "As of {at}"),
    "card.red": ("红牌", "Red"),
    "card.yellow": ("黄牌", "Yellow"),
    "card.left": ("剩余 {days} 个工作日", "{days} working days left"),
    "card.overdue": ("超期 {days} 个工作日", "{days} working days overdue"),
    # windows and staff
    "windows.wait_target": ("等候目标 {minutes} 分钟", "Wait target {minutes} min"),
    "windows.heat": ("平均等候时长（分钟），按星期和钟点", "Mean wait (min) by weekday and hour"),
    "windows.staff": ("人员工作量与环节用时", "Staff workload and step time"),
    "windows.windows": ("窗口工作量", "Window workload"),
    "windows.outlier_note": (
        "异常：环节用时中位数超出四分位距 1.5 倍范围（Tukey 规则）。",
        "Outlier: median step time beyond 1.5 × the interquartile range (Tukey's fences).",
    ),
    "windows.outlier": ("异常", "Outlier"),
    "windows.normal": ("正常", "Normal"),
    "windows.no_tickets": (
        "所选期间没有排队叫号数据（排队数据不区分事项、部门和渠道）。",
        "No queue tickets in this period (tickets carry no matter, department or channel).",
    ),
    "weekday.1": ("周一", "Mon"),
    "weekday.2": ("周二", "Tue"),
    "weekday.3": ("周三", "Wed"),
    "weekday.4": ("周四", "Thu"),
    "weekday.5": ("周五", "Fri"),
    "weekday.6": ("周六", "Sat"),
    "weekday.7": ("周日", "Sun"),
    # satisfaction
    "satisfaction.trend": ("好评率月度趋势", "Good-review rate by month"),
    "satisfaction.bad": ("差评及整改情况", "Bad reviews and their rectification"),
    "satisfaction.none": ("所选期间没有差评。", "No bad reviews in this period."),
    "satisfaction.open_bad": ("未整改差评", "Bad reviews not rectified"),
    "status.rectified": ("已按时整改", "Rectified in time"),
    "status.late": ("逾期整改", "Rectified late"),
    "status.open": ("待整改", "Open"),
    "status.overdue": ("整改超期", "Overdue"),
    # data
    "data.runs": ("运行次数", "Runs"),
    "data.last_run": ("最近运行", "Last run"),
    "data.last_event": ("最新事件", "Last event"),
    "data.quarantined": ("隔离行", "Quarantined rows"),
    "data.history": ("运行记录", "Run history"),
    "data.held": ("隔离的行", "Quarantined rows"),
    "data.no_held": ("没有隔离的行", "No quarantined rows"),
    "data.failed": ("加载失败的文件", "Files that failed"),
    "data.files": ("最近运行的文件", "Files of recent runs"),
    "data.files_note": (
        "读取行数 = 已加载 + 重复 + 隔离。重复行：与本文件前面某行相同的行"
        "（默认作为不同事件保留）；"
        "清理：去除了不可见字符（BOM、零宽字符、NUL）的值；移除：被完整环节清单替换的已存事件。",
        "Rows read = loaded + duplicates + quarantined. Repeated: rows identical to an earlier "
        "row of the same file (kept as distinct events unless the profile merges them); "
        "cleaned: values stripped of invisible characters (BOMs, zero-width, NUL); removed: "
        "stored events a complete step list replaced.",
    ),
    "data.flagged": ("时间不合理的办件", "Applications with impossible times"),
    "data.no_flagged": ("没有时间不合理的办件", "No application with impossible times"),
    "data.no_failed": ("没有加载失败的文件", "No file failed"),
    "data.calendar_gap": (
        "{year} 年没有法定节假日数据，按周一至周五计算工作日（{days} 天）。"
        "可在 [calendar] closed 中补充休息日。",
        "No statutory holiday data for {year}: working days are counted as Monday–Friday "
        "({days} days). Add closures in [calendar] closed.",
    ),
    "data.upload": ("上传文件", "Upload a file"),
    "data.upload_note": (
        "文件按所选的数据源配置经正常的 ETL 流程加载（与 onewindow load 相同）。",
        "The file is loaded with the chosen source profile through the normal ETL (as "
        "onewindow load does).",
    ),
    "data.upload_box": (
        "点击此处选择文件，或把文件拖到这里（CSV、XLSX、XLS、TXT，每个文件不超过 {limit} MB）",
        "Click here to choose a file, or drop it here (CSV, XLSX, XLS, TXT; up to {limit} MB "
        "per file)",
    ),
    "filters.choose": ("请选择", "Choose"),
    "data.profile": ("数据源配置", "Source profile"),
    "data.no_profiles": (
        "没有可用的数据源配置：在 onewindow.toml 的 [etl] profiles 中列出，或放在 profiles/ 目录。",
        "No source profile available: list them in [etl] profiles of onewindow.toml or put "
        "them in profiles/.",
    ),
    "data.load": ("加载", "Load"),
    "data.loaded": ("运行 {run}：{status}", "Run {run}: {status}"),
    "data.load_failed": ("加载失败：{reason}", "The load failed: {reason}"),
    "data.status": ("状态", "Status"),
    "data.copies_ok": ("数据仓库的两份副本完好", "Both copies of the warehouse are whole"),
    "data.copy_damaged_published": (
        "数据仓库副本 {copy}（当前发布的副本）已损坏：{what}。页面改用另一份完好的副本"
        "（可能缺少最近一次运行）；下一次加载会用它重建损坏的副本，并记入运行记录。",
        "Copy {copy} of the warehouse (the published one) is damaged: {what}. The pages read "
        "the other, intact copy instead (it may lack the latest run); the next load rebuilds "
        "the damaged copy from it and records that in the run history.",
    ),
    "data.copy_damaged_standby": (
        "数据仓库副本 {copy}（备用副本）已损坏：{what}。页面数据不受影响；"
        "下一次加载会用发布的副本重建它，并记入运行记录。",
        "Copy {copy} of the warehouse (the standby) is damaged: {what}. The figures shown are "
        "not affected; the next load rebuilds it from the published copy and records that in "
        "the run history.",
    ),
    "data.damage.missing": ("文件不存在", "the file is missing"),
    "data.damage.empty": ("文件为空（0 字节）", "the file is empty (0 bytes)"),
    "data.damage.not_database": (
        "文件开头为零或已被覆盖，不再是数据库文件",
        "it is no longer a database file (its start is zeros or was overwritten)",
    ),
    "data.damage.truncated": (
        "文件被截断（{size} MB，应为 {expected} MB）",
        "it was cut short ({size} MB of the {expected} MB it should have)",
    ),
    "data.damage.unreadable": ("文件无法读取", "the file cannot be read"),
    "data.damage.read_only": ("文件为只读", "the file is read-only"),
    "data.damage.failed_read": (
        "读取时发现文件内部损坏",
        "reading it found damage inside the file",
    ),
    "data.derived_stale": (
        "预计算表尚未更新（{n} 个办件待刷新）：指标改为直接从事件计算，结果相同但较慢。"
        "下一次运行会刷新（若是刷新失败，运行记录中写明了原因）。",
        "The precomputed tables are not up to date ({n} applications wait): figures are "
        "computed from the events instead — the same figures, more slowly. The next run "
        "refreshes them (if a refresh failed, the run history says why).",
    ),
    # reform
    "reform.pick": ("选择改革", "Reform"),
    "reform.none": (
        "还没有登记改革。可在 onewindow.toml 中用 [[reforms]] 声明（id、name、effective、"
        "matters，可选 description、window_days、gap_days、control），下次加载数据时登记；"
        "也可以在下方「登记新改革」中添加。",
        "No reform is registered yet. Declare one under [[reforms]] in onewindow.toml (id, "
        "name, effective, matters; optionally description, window_days, gap_days, control): "
        "the next load registers it. Or add one with “Add a reform” below.",
    ),
    "reform.about": (
        "实施日期 {date} · 改革事项：{matters}",
        "Effective {date} · touched matters: {matters}",
    ),
    "reform.windows": (
        "改革前 {b0} 至 {b1}，改革后 {a0} 至 {a1}（各 {days} 天，实施日期两侧各留空 {gap} 天），"
        "对照：{control}。本页不受左侧筛选条件影响。",
        "Before {b0} to {b1}, after {a0} to {a1} ({days} days each, {gap} days left out on each "
        "side of the date), compared with {control}. The filters on the left do not apply here.",
    ),
    "reform.trial": (
        "显示的是本次查看的设计，尚未保存。",
        "Showing a design for this view only; it is not saved.",
    ),
    "reform.headline": (
        "双重差分：改革事项的变化减去对照事项的变化",
        "Difference in differences: the change in touched matters minus the change in controls",
    ),
    "reform.table": ("全部指标", "Every KPI"),
    "reform.table_note": (
        "比率以 % 显示，其变化以百分点计；区间为 95% 自助法置信区间（按办件重抽样 2000 次）。"
        "区间包含 0 即为「无明显效果」。",
        "Rates in %, their changes in percentage points; intervals are 95 % bootstrap "
        "intervals (2,000 resamples of applications). An interval holding zero reads “no "
        "clear effect”.",
    ),
    "reform.series": (
        "月度走势：改革事项与对照事项",
        "Monthly series: touched and control matters",
    ),
    "reform.series_note": (
        "实施日期之前两条线应大致平行（平行趋势假设），双重差分才可解读为改革的效果。",
        "Before the effective date the two lines should move in parallel (the parallel-trends "
        "assumption) for the DiD to read as the reform's effect.",
    ),
    "reform.group": ("组别", "Group"),
    "reform.window_before": ("改革前窗口", "before window"),
    "reform.window_after": ("改革后窗口", "after window"),
    "reform.effective_on": ("实施 {date}", "effective {date}"),
    "reform.design": ("分析设计（窗口、间隔、对照）", "Design (windows, gap, control)"),
    "reform.window_days": ("窗口天数", "Window (days)"),
    "reform.gap_days": ("间隔天数", "Gap (days)"),
    "reform.control": ("对照组", "Control"),
    "reform.control_matters": ("对照事项", "Control matters"),
    "reform.control_matters_note": (
        "仅在选择「所列事项」时使用。",
        "Used only with “listed matters”.",
    ),
    "control.untouched": ("全部未改革事项", "All untouched matters"),
    "control.departments": ("同部门未改革事项", "Untouched matters of the same departments"),
    "control.listed": ("所列事项", "Listed matters"),
    "reform.apply": ("仅本次查看", "Apply to this view"),
    "reform.save_design": ("保存设计", "Save design"),
    "reform.edit": ("修改或删除本改革", "Edit or delete this reform"),
    "reform.add": ("登记新改革", "Add a reform"),
    "reform.id": ("编号", "Id"),
    "reform.name": ("名称", "Name"),
    "reform.name_help": (
        "可同时写中英文，如「企业开办一件事 / One-thing business setup」。",
        "Chinese and English may share it, e.g. “企业开办一件事 / One-thing business setup”.",
    ),
    "reform.effective": ("实施日期", "Effective date"),
    "reform.matters": ("改革事项", "Touched matters"),
    "reform.description": ("说明", "Description"),
    "reform.save": ("保存", "Save"),
    "reform.delete": ("删除本改革", "Delete this reform"),
    "reform.confirm_delete": ("确认删除「{name}」", "Yes, delete “{name}”"),
    "reform.saved": (
        "已保存改革「{name}」（运行 {run}）。",
        "Saved the reform “{name}” (run {run}).",
    ),
    "reform.deleted": (
        "已删除改革「{name}」（运行 {run}）。",
        "Deleted the reform “{name}” (run {run}).",
    ),
    "reform.id_taken": (
        "编号 {id} 已被使用：请换一个编号，或在「修改或删除本改革」中修改它。",
        "The id {id} is taken: choose another, or edit that reform under “Edit or delete "
        "this reform”.",
    ),
    "reform.save_failed": ("保存失败：{reason}", "Saving failed: {reason}"),
    "reform.invalid": ("无法保存：{problems}。", "Cannot save: {problems}."),
    "invalid.empty": ("{field}不能为空", "{field} must not be empty"),
    "invalid.gt": ("{field}必须大于 {n}", "{field} must be greater than {n}"),
    "invalid.ge": ("{field}不能小于 {n}", "{field} must be at least {n}"),
    "invalid.overlap": (
        "对照事项 {codes} 也是改革事项",
        "control matters {codes} are also touched",
    ),
    "invalid.no_control": ("请至少选择一个对照事项", "pick at least one control matter"),
    "invalid.other": ("{field}无效：{reason}", "{field} is invalid: {reason}"),
    "verdict.improved": ("改善", "improved"),
    "verdict.worsened": ("变差", "worsened"),
    "verdict.increased": ("上升", "increased"),
    "verdict.decreased": ("下降", "decreased"),
    "verdict.no_clear_effect": ("无明显效果", "no clear effect"),
    "verdict.not_enough_data": ("数据不足", "not enough data"),
    # sign-in, roles, audit (ui/auth.py, pages/users.py, pages/audit.py)
    "group.security": ("安全", "Security"),
    "auth.no_mode": (
        "请用 onewindow serve 启动仪表盘。",
        "Start the dashboard with onewindow serve.",
    ),
    "auth.sign_in": ("请先登录。", "Please sign in."),
    "auth.ended": (
        "会话已结束（已退出、超时或权限变更），请重新登录。",
        "Your session has ended (signed out, idle too long or rights changed); sign in again.",
    ),
    "auth.sign_in_button": ("登录", "Sign in"),
    "auth.sign_out": ("退出登录", "Sign out"),
    "auth.change_password": ("修改密码", "Change password"),
    "auth.sso_unknown": (
        "您的统一身份认证账号未被授予任何角色，请联系系统管理员。",
        "Your single sign-on account has no role here; ask the administrator.",
    ),
    "auth.denied": (
        "您的角色无权执行此操作：{action}（已记录）。",
        "Your role does not allow this: {action} (recorded).",
    ),
    "auth.no_pages": (
        "您的角色没有可查看的页面。",
        "Your roles give you no page to see.",
    ),
    "demo.badge": ("演示模式 / Demo mode", "演示模式 / Demo mode"),
    "demo.role": ("演示角色", "Demo role"),
    "demo.departments": ("负责的部门", "Supervised departments"),
    "page.users": ("用户与角色", "Users & roles"),
    "page.audit": ("审计日志", "Audit trail"),
    "users.add": ("新增用户", "Add a user"),
    "users.username": ("用户名", "User name"),
    "users.name": ("姓名", "Name"),
    "users.roles": ("角色", "Roles"),
    "users.departments": ("部门（窗口负责人）", "Departments (supervisors)"),
    "users.windows": ("窗口（窗口负责人）", "Windows (supervisors)"),
    "users.save": ("保存", "Save"),
    "users.added": (
        "已创建 {user}。一次性密码（首次登录须修改）：{password}",
        "Added {user}. One-time password (to change at first login): {password}",
    ),
    "users.pick": ("用户", "User"),
    "users.set_roles": ("修改角色", "Change roles"),
    "users.disable": ("停用", "Disable"),
    "users.enable": ("启用", "Enable"),
    "users.reset": ("重置密码", "Reset password"),
    "users.reset_done": (
        "{user} 的一次性密码：{password}",
        "One-time password for {user}: {password}",
    ),
    "users.done": ("已保存。", "Saved."),
    "audit.intact": ("审计链完整：{n} 条记录。", "The chain is intact: {n} records."),
    "audit.broken": ("审计链被破坏：{problems}", "The chain is broken: {problems}"),
    "data.pii": ("已屏蔽的个人信息", "Personal numbers masked"),
    "data.pii_note": (
        "未声明为个人信息的列中发现并已屏蔽的身份证号、手机号、电子邮箱（每个文件、每列的单元格数）。",
        "ID-card numbers, mobile numbers and e-mail addresses found and masked in columns not "
        "declared personal (cells per file and column).",
    ),
}

# Column headers of the tables, by the metrics' snake_case names.
COLUMNS: dict[str, tuple[str, str]] = {
    "matter": ("事项", "Matter"),
    "matter_code": ("事项编码", "Matter code"),
    "matter_name": ("事项名称", "Matter name"),
    "department": ("部门", "Department"),
    "window_id": ("窗口", "Window"),
    "staff": ("经办人", "Staff"),
    "channel": ("渠道", "Channel"),
    "application_id": ("办件编号", "Application"),
    "card": ("牌", "Card"),
    "time_left": ("剩余/超期", "Time left / overdue"),
    "accepted_at": ("受理时间", "Accepted"),
    "due_at": ("到期时间", "Due"),
    "workdays_left": ("剩余工作日", "Working days left"),
    "overdue_hours": ("超期小时", "Hours overdue"),
    "red": ("红牌", "Red"),
    "yellow": ("黄牌", "Yellow"),
    "most_overdue_workdays": ("最长超期（工作日）", "Most overdue (working days)"),
    "points_lost": ("损失百分点", "Points lost"),
    "from_step": ("起始环节", "From step"),
    "to_step": ("到达环节", "To step"),
    "transition": ("流转", "Transition"),
    "count": ("次数", "Count"),
    "mean_s": ("平均（秒）", "Mean (s)"),
    "median_s": ("中位（秒）", "Median (s)"),
    "p90_s": ("P90（秒）", "P90 (s)"),
    "mean_work_h": ("平均工作小时", "Mean working h"),
    "median_work_h": ("中位工作小时", "Median working h"),
    "p90_work_h": ("P90 工作小时", "P90 working h"),
    "handovers": ("跨部门交接", "Handovers"),
    "total_s": ("总时长（秒）", "Total (s)"),
    "total_work_h": ("总工作小时", "Total working h"),
    "share_of_time": ("时间占比", "Share of time"),
    "rank": ("排名", "Rank"),
    "from_department": ("交出部门", "From department"),
    "to_department": ("接收部门", "To department"),
    "before_count": ("之前次数", "Count before"),
    "before_median_work_h": ("之前中位工作小时", "Median working h before"),
    "recent_count": ("近期次数", "Recent count"),
    "recent_median_work_h": ("近期中位工作小时", "Recent median working h"),
    "change_work_h": ("变化（工作小时）", "Change (working h)"),
    "step": ("环节", "Step"),
    "applications_with_rework": ("有返工的办件", "Applications with rework"),
    "applications": ("办件数", "Applications"),
    "username": ("用户", "User"),
    "attempts": ("尝试次数", "Attempts"),
    "last_try": ("最近尝试", "Last try"),
    "last_error": ("原因", "Reason"),
    "repeats": ("重复次数", "Repeats"),
    "processing_workdays": ("办理工作日", "Processing working days"),
    "steps": ("环节数", "Steps"),
    "days_active": ("在岗天数", "Days active"),
    "steps_per_day": ("日均环节数", "Steps per day"),
    "median_step_min": ("环节用时中位数（分钟）", "Median step time (min)"),
    "mean_step_min": ("环节平均用时（分钟）", "Mean step time (min)"),
    "outlier": ("异常", "Outlier"),
    "weekday": ("星期", "Weekday"),
    "hour": ("钟点", "Hour"),
    "tickets": ("取号数", "Tickets"),
    "mean_wait_min": ("平均等候（分钟）", "Mean wait (min)"),
    "month": ("月份", "Month"),
    "rating": ("评分", "Rating"),
    "reason": ("原因", "Reason"),
    "rated_at": ("评价时间", "Rated"),
    "rectified_at": ("整改时间", "Rectified"),
    "age_workdays": ("历时（工作日）", "Age (working days)"),
    "status": ("状态", "Status"),
    "run_id": ("运行", "Run"),
    "job": ("作业", "Job"),
    "profile": ("配置", "Profile"),
    "started_at": ("开始时间", "Started"),
    "duration_s": ("用时（秒）", "Duration (s)"),
    "files": ("文件数", "Files"),
    "failed_files": ("失败文件", "Failed files"),
    "rows_read": ("读取行数", "Rows read"),
    "inserted": ("新增", "Inserted"),
    "updated": ("更新", "Updated"),
    "duplicates": ("重复", "Duplicates"),
    "quarantined": ("隔离", "Quarantined"),
    "repeated": ("重复行", "Repeated rows"),
    "cleaned": ("清理的值", "Cleaned values"),
    "removed": ("移除", "Removed"),
    "error": ("错误", "Error"),
    "file": ("文件", "File"),
    "row": ("行号", "Row"),
    "table_name": ("表", "Table"),
    "field": ("字段", "Field"),
    "value": ("值", "Value"),
    "raw_values": ("原始值", "Raw values"),
    "read": ("读取", "Read"),
    "loaded": ("已加载", "Loaded"),
    "duplicate": ("重复", "Duplicate"),
    "table": ("表", "Table"),
    "statutory_limit_days": ("法定时限（工作日）", "Statutory limit (working days)"),
    "promised_limit_days": ("承诺时限（工作日）", "Promised limit (working days)"),
    "actor": ("操作人", "Who"),
    "event": ("事件", "Event"),
    "target": ("对象", "What"),
    "result": ("结果", "Result"),
    "detail": ("详情", "Detail"),
    "seq": ("序号", "No."),
    "at": ("时间", "When"),
    "column": ("列", "Column"),
    "kind": ("类型", "Kind"),
    "cells": ("单元格数", "Cells"),
}


assert not set(TEXT) & set(lists_words.TEXT), "a word defined twice"
TEXT.update(lists_words.TEXT)
COLUMNS.update({k: v for k, v in lists_words.COLUMNS.items() if k not in COLUMNS})


# The unit a KPI's axis is measured in, by the kind of its value (ui.fmt.kind); counts name
# what they count.
UNITS: dict[str, tuple[str, str]] = {
    "rate": ("%", "%"),
    "workdays": ("工作日", "working days"),
    "hours": ("工作小时", "working hours"),
    "minutes": ("分钟", "min"),
    "count": ("件", "applications"),
    "ratings": ("条", "ratings"),
    "tickets": ("张", "tickets"),
    "trips_mean": ("次", "trips"),
    "materials_mean": ("份", "documents"),
}
_COUNTED = {"ratings": "ratings", "bad_reviews": "ratings", "tickets": "tickets"}


def axis_title(kpi: str, lang: Lang) -> str:
    """A chart axis naming the measure and its unit, e.g. 按时办结率（%）, Submitted
    (applications)."""
    what = kind(kpi)
    unit_key = _COUNTED.get(kpi, "count") if what == "count" else kpi if what == "decimal" else what
    zh, en = UNITS.get(unit_key, ("", ""))
    name = kpi_name(kpi, lang)
    said = f"（{zh}）" in name if lang == "zh" else en in name.lower()
    if not zh or said:  # 办理时长中位数（工作日）, Median processing working days say it
        return name
    return f"{name}（{zh}）" if lang == "zh" else f"{name} ({en})"


def tr(key: str, lang: Lang, **values: object) -> str:
    """The text for `key` in `lang`, with {placeholders} filled."""
    zh, en = TEXT[key]
    text = zh if lang == "zh" else en
    return text.format(**values) if values else text


def column(name: str, lang: Lang) -> str:
    """A column header: a KPI's name, a known column's, else the name itself."""
    if name in KPIS:
        return KPIS[name].zh if lang == "zh" else KPIS[name].en
    pair = COLUMNS.get(name)
    if pair is None:
        return name
    return pair[0] if lang == "zh" else pair[1]


def kpi_name(name: str, lang: Lang) -> str:
    return KPIS[name].zh if lang == "zh" else KPIS[name].en


def channel(code: str, lang: Lang) -> str:
    key = f"channel.{code}"
    return tr(key, lang) if key in TEXT else code
