// The schedule form's recurrence builder: the chosen pattern in words, as the server will
// store it ("毎月第3木曜日 19:00"). The server builds the rule itself; this is a preview.

const WEEKDAYS = ["日", "月", "火", "水", "木", "金", "土"];

function words(form) {
  const date = form.elements.date.value;
  const time = form.elements.start_time.value;
  const repeat = form.elements.repeat.value;
  if (!date || !time) return "";
  const [y, m, d] = date.split("-").map(Number);
  const day = new Date(Date.UTC(y, m - 1, d));
  const weekday = `${WEEKDAYS[day.getUTCDay()]}曜日`;
  const nth = Math.floor((d - 1) / 7) + 1;
  const patterns = {
    none: `${date} ${time}`,
    weekly: `毎週${weekday} ${time}`,
    biweekly: `隔週${weekday} ${time}`,
    monthly_weekday: `毎月第${nth}${weekday} ${time}`,
    monthly_date: `毎月${d}日 ${time}`,
  };
  let text = patterns[repeat] || "";
  if (repeat !== "none") {
    const until = form.elements.until.value;
    const count = form.elements.count.value;
    if (until) text += `(${until}まで)`;
    else if (count) text += `(${count}回)`;
    else text += "(終わりを指定してください)";
  }
  return text;
}

const form = document.getElementById("schedule-form");
const out = document.getElementById("recurrence-words");
if (form && out) {
  const update = () => {
    out.textContent = words(form);
  };
  form.addEventListener("input", update);
  form.addEventListener("change", update);
  update();
}
