"""The demo hall: sample departments, queues, matters, windows and staff (idempotent)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hall.auth import add_user
from hall.models import Department, Hall, Matter, Queue, User, Window, WindowQueue

HALL_CODE = "demo"

DEPARTMENTS = [
    ("gaj", "区公安分局（户籍）", "户口登记、迁移、居民身份证办理等户籍管理"),
    ("rsj", "区人力资源和社会保障局", "社会保险登记、缴费、待遇申领，就业创业服务"),
    ("ybj", "区医疗保障局", "医保参保、异地就医备案、医疗费用报销"),
    ("bdc", "区不动产登记中心", "不动产首次、转移、变更、抵押登记与查询"),
    ("scj", "区市场监督管理局", "市场主体登记、食品经营许可"),
    ("swj", "区税务局", "税务登记、发票、个人所得税与社保费征缴"),
    ("gjj", "住房公积金管理中心", "公积金缴存、提取、贷款"),
    ("mzj", "区民政局", "婚姻登记、社会救助、养老服务"),
]

QUEUES = [
    ("A", "综合受理", None),
    ("B", "户籍业务", "gaj"),
    ("C", "社保医保", "rsj"),
    ("D", "不动产登记", "bdc"),
    ("E", "市场主体登记", "scj"),
    ("F", "税务业务", "swj"),
    ("G", "公积金与民政", "gjj"),
]

# (code, name, department, queue, kind, promised working days)
MATTERS = [
    ("GA-001", "居民身份证申领", "gaj", "B", "promised", 20),
    ("GA-002", "居民身份证换领、补领", "gaj", "B", "promised", 20),
    ("GA-003", "户口迁入（投靠、入学、就业）", "gaj", "B", "promised", 5),
    ("GA-004", "出生登记", "gaj", "B", "immediate", 0),
    ("RS-001", "城乡居民基本养老保险参保登记", "rsj", "C", "immediate", 0),
    ("RS-002", "社会保障卡申领", "rsj", "C", "promised", 10),
    ("RS-003", "失业保险金申领", "rsj", "C", "promised", 5),
    ("YB-001", "异地就医备案", "ybj", "C", "immediate", 0),
    ("YB-002", "医疗费用手工报销", "ybj", "C", "promised", 20),
    ("BD-001", "不动产转移登记（二手房过户）", "bdc", "D", "promised", 5),
    ("BD-002", "不动产抵押登记", "bdc", "D", "promised", 3),
    ("BD-003", "不动产登记资料查询", "bdc", "D", "immediate", 0),
    ("SC-001", "个体工商户设立登记", "scj", "E", "immediate", 0),
    ("SC-002", "有限责任公司设立登记", "scj", "E", "promised", 1),
    ("SC-003", "食品经营许可", "scj", "E", "promised", 10),
    ("SW-001", "代开增值税发票", "swj", "F", "immediate", 0),
    ("SW-002", "个人所得税综合所得汇算", "swj", "F", "immediate", 0),
    ("GJ-001", "住房公积金提取（租房）", "gjj", "G", "immediate", 0),
    ("GJ-002", "住房公积金个人贷款", "gjj", "G", "joint", 15),
    ("MZ-001", "结婚登记", "mzj", "G", "immediate", 0),
    ("MZ-002", "最低生活保障申请", "mzj", "G", "referred", 30),
]

# (number, name, queues in priority order); windows 1–2 are combined windows (综合窗口)
WINDOWS = [
    (1, "综合受理", ["A", "B", "C", "D", "E", "F", "G"]),
    (2, "综合受理", ["A", "C", "B", "D", "E", "F", "G"]),
    (3, "户籍业务", ["B", "A"]),
    (4, "社保医保", ["C", "A"]),
    (5, "不动产登记", ["D"]),
    (6, "市场主体登记", ["E", "A"]),
    (7, "税务业务", ["F"]),
    (8, "公积金与民政", ["G"]),
]

# (username, display name, job number, role, window to sign in to in the demo)
STAFF = [
    ("admin", "系统管理员", "A0001", "admin"),
    ("manager", "王主任", "M0001", "manager"),
    ("staff1", "李晓梅", "1001", "staff"),
    ("staff2", "张伟", "1002", "staff"),
    ("staff3", "陈静", "1003", "staff"),
    ("staff4", "刘洋", "1004", "staff"),
    ("staff5", "赵敏", "1005", "staff"),
    ("staff6", "周杰", "1006", "staff"),
]


@dataclass
class DemoResult:
    """What loading the demo created: the hall and the new accounts with their passwords."""

    hall: Hall
    created: bool
    passwords: dict[str, str] = field(default_factory=dict)


def load(
    session: Session, hall_code: str = HALL_CODE, name: str = "示范区政务服务中心"
) -> DemoResult:
    """Create the demo hall, or reuse it when it exists; new accounts get random passwords."""
    hall = session.scalar(sa.select(Hall).where(Hall.code == hall_code))
    result = DemoResult(hall=hall, created=hall is None)
    if hall is None:
        hall = Hall(
            code=hall_code,
            name=name,
            timezone="Asia/Shanghai",
            notice="欢迎来到政务服务中心。办事请先取号，60 岁以上老人、残疾人、孕妇、军人请走绿色通道。",
            seq=0,
        )
        session.add(hall)
        session.flush()
        result.hall = hall
    departments = {}
    for code, dname, functions in DEPARTMENTS:
        dept = session.scalar(sa.select(Department).where(Department.code == code))
        if dept is None:
            dept = Department(
                code=code, name=dname, functions=functions, sort_order=len(departments)
            )
            session.add(dept)
        departments[code] = dept
    session.flush()
    queues = {}
    for prefix, qname, dept in QUEUES:
        queue = session.scalar(
            sa.select(Queue).where(Queue.hall_id == hall.id, Queue.prefix == prefix)
        )
        if queue is None:
            queue = Queue(
                hall_id=hall.id,
                prefix=prefix,
                name=qname,
                department_id=departments[dept].id if dept else None,
            )
            session.add(queue)
        queues[prefix] = queue
    session.flush()
    for order, (code, mname, dept, prefix, kind, days) in enumerate(MATTERS):
        if session.scalar(sa.select(Matter).where(Matter.code == code)) is None:
            session.add(
                Matter(
                    code=code,
                    name=mname,
                    department_id=departments[dept].id,
                    queue_id=queues[prefix].id,
                    kind=kind,
                    promised_days=days,
                    sort_order=order,
                )
            )
    for number, wname, prefixes in WINDOWS:
        window = session.scalar(
            sa.select(Window).where(Window.hall_id == hall.id, Window.number == number)
        )
        if window is None:
            window = Window(hall_id=hall.id, number=number, name=wname, status="closed")
            window.queue_links = [
                WindowQueue(queue_id=queues[p].id, position=i) for i, p in enumerate(prefixes)
            ]
            session.add(window)
    for username, display, job, role in STAFF:
        if session.scalar(sa.select(User).where(User.username == username)) is None:
            password = secrets.token_urlsafe(9)
            add_user(
                session,
                username,
                password,
                role=role,
                display_name=display,
                job_number=job,
                hall=hall,
            )
            result.passwords[username] = password
    session.flush()
    return result
