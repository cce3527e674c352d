// fogmesh-sensor: reference firmware for the fogmesh firmware bridge.
// Arduino (AVR, SAMD) and ESP32 alike; no libraries beyond the core.
//
// Speaks the fogmesh line protocol (json-lines, firmware-bridge/README.md):
//   out: {"hello":"fogmesh-sensor/1.0","sensors":["temp"],"actuators":["fan","led"]}
//        {"s":"temp","v":21.50,"t":<millis>}          every READ_INTERVAL_MS
//        {"id":N,"ok":...} / {"id":N,"err":"..."}      replies
//   in:  {"id":N,"cmd":"ping"} | {"id":N,"cmd":"get","name":"temp"}
//        {"id":N,"cmd":"set","name":"fan","v":1}
// The parser is deliberately small (no JSON library): it finds "id", "cmd",
// "name" and "v" by key. Lines longer than LINE_MAX are discarded whole.

#include <Arduino.h>

#if defined(ESP32)
const int FAN_PIN = 26;
const int LED_PIN = 2;
const int TEMP_PIN = 34;   // ADC1_CH6; e.g. a TMP36
#else
const int FAN_PIN = 7;
const int LED_PIN = LED_BUILTIN;
const int TEMP_PIN = A0;
#endif

const unsigned long READ_INTERVAL_MS = 1000;
const size_t LINE_MAX = 128;

char line[LINE_MAX + 1];
size_t lineLen = 0;
bool discarding = false;
unsigned long lastRead = 0;
int fanState = 0;
int ledState = 0;

float readTempC() {
#if defined(ESP32)
  float mv = analogReadMilliVolts(TEMP_PIN);
#else
  float mv = analogRead(TEMP_PIN) * (5000.0 / 1023.0);
#endif
  return (mv - 500.0) / 10.0;  // TMP36: 10 mV/°C, 500 mV at 0 °C
}

// Finds "key": in the line; returns a pointer to the value or nullptr.
const char* findKey(const char* key) {
  char pattern[24];
  snprintf(pattern, sizeof(pattern), "\"%s\":", key);
  const char* p = strstr(line, pattern);
  if (!p) return nullptr;
  p += strlen(pattern);
  while (*p == ' ') p++;
  return p;
}

// Copies a quoted string value into out; false if absent or not a string.
bool stringValue(const char* key, char* out, size_t outLen) {
  const char* p = findKey(key);
  if (!p || *p != '"') return false;
  p++;
  size_t i = 0;
  while (*p && *p != '"' && i + 1 < outLen) out[i++] = *p++;
  out[i] = 0;
  return *p == '"';
}

void replyOk(long id, const char* value) {
  Serial.print("{\"id\":"); Serial.print(id); Serial.print(",\"ok\":"); Serial.print(value); Serial.println("}");
}

void replyErr(long id, const char* message) {
  Serial.print("{\"id\":"); Serial.print(id); Serial.print(",\"err\":\""); Serial.print(message); Serial.println("\"}");
}

void handleLine() {
  const char* idp = findKey("id");
  if (!idp) return;  // not a request: ignore, like any garbage
  long id = atol(idp);
  char cmd[12], name[16];
  if (!stringValue("cmd", cmd, sizeof(cmd))) return replyErr(id, "no cmd");
  if (strcmp(cmd, "ping") == 0) {
    char up[16];
    snprintf(up, sizeof(up), "%lu", millis());
    return replyOk(id, up);
  }
  if (strcmp(cmd, "get") == 0) {
    if (!stringValue("name", name, sizeof(name)) || strcmp(name, "temp") != 0) return replyErr(id, "unknown sensor");
    char v[16];
    dtostrf(readTempC(), 1, 2, v);
    return replyOk(id, v);
  }
  if (strcmp(cmd, "set") == 0) {
    const char* v = findKey("v");
    if (!stringValue("name", name, sizeof(name)) || !v) return replyErr(id, "set needs name and v");
    int value = (strncmp(v, "true", 4) == 0) ? 1 : atoi(v);
    if (value != 0 && value != 1) return replyErr(id, "bad value");
    if (strcmp(name, "fan") == 0) { fanState = value; digitalWrite(FAN_PIN, value ? HIGH : LOW); }
    else if (strcmp(name, "led") == 0) { ledState = value; digitalWrite(LED_PIN, value ? HIGH : LOW); }
    else return replyErr(id, "unknown actuator");
    return replyOk(id, "true");
  }
  replyErr(id, "unknown command");
}

void setup() {
  pinMode(FAN_PIN, OUTPUT);
  pinMode(LED_PIN, OUTPUT);
  digitalWrite(FAN_PIN, LOW);  // the safe state until the bridge says otherwise
  Serial.begin(115200);
  while (!Serial && millis() < 2000) {}
  Serial.println("{\"hello\":\"fogmesh-sensor/1.0\",\"sensors\":[\"temp\"],\"actuators\":[\"fan\",\"led\"]}");
}

void loop() {
  while (Serial.available() > 0) {
    char c = (char)Serial.read();
    if (c == '\r') continue;
    if (c == '\n') {
      if (!discarding) { line[lineLen] = 0; handleLine(); }
      lineLen = 0;
      discarding = false;
    } else if (lineLen < LINE_MAX) {
      line[lineLen++] = c;
    } else {
      discarding = true;  // overlong: drop the whole line
    }
  }
  unsigned long now = millis();
  if (now - lastRead >= READ_INTERVAL_MS) {
    lastRead = now;
    char v[16];
    dtostrf(readTempC(), 1, 2, v);
    Serial.print("{\"s\":\"temp\",\"v\":"); Serial.print(v); Serial.print(",\"t\":"); Serial.print(now); Serial.println("}");
  }
}
