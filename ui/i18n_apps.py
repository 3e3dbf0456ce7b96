"""The words of the application lists and the Application page, in Chinese and English; ui/i18n.py
adds them to its tables (kept apart so the lists' words travel with the lists)."""

from __future__ import annotations

TEXT: dict[str, tuple[str, str]] = {
    "ontime.note": (
        "按时办结率只计本期已办结的办件；同一范围内另有 {red} 件在办、"
        "已超过期限（红牌），未计入该比率。",
        "The on-time rate counts applications completed in the period only; in the same cut "
        "{red} open applications are already past their deadline (red cards) and are not in it.",
    ),
    "list.open": ("查看这 {n} 件办件", "Show these {n} applications"),
    "list.none": ("没有办件。", "No applications."),
    "list.red": ("红牌：在办已超期（{n} 件）", "Red cards: open and past the deadline ({n})"),
    "list.yellow": (
        "黄牌：即将到期，仍可按时办结（{n} 件）",
        "Yellow cards: due soon, still in time ({n})",
    ),
    "list.due_today": ("今天到期（{n} 件）", "Due today ({n})"),
    "list.overdue": ("本期超期办结的办件（{n} 件）", "Completed late in the period ({n})"),
    "list.rework": ("有返工的办件（{n} 件次）", "Applications with rework ({n} application-steps)"),
    "list.bad": ("差评清单（{n} 条）", "Bad reviews ({n})"),
    "list.link_note": (
        "点击办件编号查看该办件的全流程。",
        "Click an application number to see its timeline.",
    ),
    "supervision.act": ("待处理的办件", "Applications to act on"),
    "supervision.act_note": (
        "黄牌在前：这些办件还来得及按时办结；红牌已超期，按超期时间从长到短排列。",
        "Yellow first: these can still be completed in time; red cards are past their "
        "deadline, the longest overdue first.",
    ),
    "supervision.due_in": ("剩余/超期", "Time left / overdue"),
    "supervision.where": ("红黄牌分布", "Where the cards are"),
    "application.search": ("办件编号", "Application number"),
    "application.hint": (
        "输入办件编号查看该办件的每个环节、用时、期限与红黄牌状态。",
        "Enter an application number to see its every step, the time each took, its deadline "
        "and card.",
    ),
    "application.not_found": ("没有找到办件 {app}。", "No application {app} was found."),
    "application.status": ("红黄牌 / 状态", "Card / status"),
    "application.overdue_by": ("超期（工作日）", "Overdue (working days)"),
    "application.left": ("剩余（工作日）", "Left (working days)"),
    "application.elapsed": ("已用工作日", "Working days used"),
    "application.limit": ("承诺时限 {days} 个工作日", "promised limit: {days}"),
    "application.due": ("期限", "Deadline"),
    "application.suspended": ("暂停计时（工作日）", "Clock stopped (working days)"),
    "application.timeline": ("办理过程", "Timeline"),
    "application.timeline_note": (
        "时间为中心当地时间。“用时”为距上一环节的工作时间（工时，按中心作息和节假日计算，含等待），"
        "“办理”为本环节开始至完成的工作时间；“计时”按受理次日起算的工作日，不含特别程序暂停的工作日。",
        "Times are the center's local time. Taken: the working time since the previous step "
        "(by the center's hours and holidays, waiting included); handling: from the step's "
        "start to its end; clock: the working days counted from the day after acceptance, "
        "leaving out those stopped by a special procedure.",
    ),
    "application.about": (
        "事项 {matter} · 部门 {department} · 渠道 {channel}",
        "Matter {matter} · department {department} · channel {channel}",
    ),
    "application.times": (
        "申请 {submitted} · 受理 {accepted} · 办结 {completed}",
        "Submitted {submitted} · accepted {accepted} · completed {completed}",
    ),
    "application.as_of": ("状态截至 {at}", "Status as of {at}"),
    "app_status.red": ("红牌", "Red card"),
    "app_status.yellow": ("黄牌", "Yellow card"),
    "app_status.open_ok": ("在办", "Open"),
    "app_status.on_time": ("按时办结", "On time"),
    "app_status.late": ("超期办结", "Late"),
    "app_status.completed": ("已办结", "Completed"),
    "app_status.not_accepted": ("未受理", "Pending"),
    "clock.before": ("未开始（受理前）", "Not started (before acceptance)"),
    "clock.running": ("计时中", "Running"),
    "clock.stopped": ("暂停（特别程序）", "Stopped (special procedure)"),
    "clock.done": ("已停止（已办结）", "Ended (completed)"),
    "yes": ("是", "Yes"),
    "no": ("否", "No"),
}

COLUMNS: dict[str, tuple[str, str]] = {
    "seq": ("序号", "#"),
    "ended_at": ("完成时间", "Ended"),
    "handling_work_h": ("办理（工时）", "Handling (work h)"),
    "work_h": ("用时（工时）", "Taken (work h)"),
    "workdays": ("工作日", "Work days"),
    "clock_workdays": ("计时（工作日）", "Clock (work days)"),
    "clock": ("计时", "Clock"),
    "in_person": ("到场", "In person"),
    "completed_at": ("办结时间", "Completed"),
    "deadline_at": ("承诺办结时间", "Deadline"),
    "workdays_late": ("超期工作日", "Working days late"),
    "times": ("出现次数", "Times"),
    "first_at": ("首次", "First"),
    "last_at": ("最近", "Last"),
}
