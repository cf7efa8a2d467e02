"""Sample paper forms for an allied health professions strategy consultation, and helpers
that read the PDFs back the way a person or a scanner would (pypdfium2, zxing-cpp)."""

from __future__ import annotations

import base64
import re
import unicodedata
import zlib

from paper_forms import AnswerLabels, Demographics, FormSpec, Idea, Option, Prompt, Question

IDEA_IDS = ("evening", "self-referral", "language", "community", "travel")
PROMPT_IDS = ("easier", "worked-well")
AGE_IDS = ("under-25", "25-44", "45-64", "65-74", "75-plus")

# title, instruction, consent, prompts, ideas intro, ideas, labels, demographics
SAMPLES = {
    "en": dict(
        title="Allied health services: have your say",
        instruction=(
            "Please answer in your own words. Tick one box for each idea. "
            "You can leave out anything you do not want to answer."
        ),
        consent=(
            "I agree that my answers can be used, without my name, to shape the national "
            "strategy for allied health professions."
        ),
        prompts=(
            "What would make it easier for you to see a physiotherapist, dietitian, "
            "podiatrist or speech and language therapist?",
            "Tell us about a time a health service worked well for you.",
        ),
        ideas_intro="What do you think of these ideas?",
        ideas=(
            "Appointments should be offered in the evening and at weekends.",
            "People should be able to refer themselves without seeing a GP first.",
            "Letters and leaflets should be available in my language.",
            "Some appointments should take place in community centres, not only in hospitals.",
            "Help with travel costs should be offered to people on low incomes.",
        ),
        labels=("Agree", "Disagree", "Not sure"),
        demo_title="About you (optional)",
        demo_intro=(
            "These questions help us check that we hear from everyone. Your answers are "
            "anonymous: do not write your name. You can skip any question."
        ),
        questions=(
            ("How old are you?", ("Under 25", "25–44", "45–64", "65–74", "75 or over")),
            ("Do you have a disability or long-term health condition?", ("Yes", "No")),
            ("How often do you use the internet?", ("Every day", "Sometimes", "Never")),
        ),
        prefer="Prefer not to say",
    ),
    "pl": dict(
        title="Usługi zdrowotne: wyraź swoją opinię",
        instruction=(
            "Prosimy odpowiedzieć własnymi słowami. Zaznacz jedno pole przy każdym pomyśle. "
            "Możesz pominąć wszystko, na co nie chcesz odpowiadać."
        ),
        consent=(
            "Zgadzam się, aby moje odpowiedzi, bez mojego imienia i nazwiska, zostały "
            "wykorzystane przy tworzeniu krajowej strategii dla zawodów medycznych."
        ),
        prompts=(
            "Co ułatwiłoby Ci wizytę u fizjoterapeuty, dietetyka, podiatry lub logopedy?",
            "Opowiedz nam o sytuacji, w której usługa zdrowotna dobrze Ci pomogła.",
        ),
        ideas_intro="Co myślisz o tych pomysłach?",
        ideas=(
            "Wizyty powinny być dostępne wieczorami i w weekendy.",
            "Pacjenci powinni móc zgłosić się sami, bez wcześniejszej wizyty u lekarza rodzinnego.",
            "Listy i ulotki powinny być dostępne w moim języku.",
            "Niektóre wizyty powinny odbywać się w ośrodkach lokalnych, nie tylko w szpitalach.",
            "Osobom o niskich dochodach należy pomagać w pokryciu kosztów dojazdu.",
        ),
        labels=("Zgadzam się", "Nie zgadzam się", "Nie wiem"),
        demo_title="O Tobie (nieobowiązkowe)",
        demo_intro=(
            "Te pytania pomagają nam sprawdzić, czy docieramy do wszystkich. Odpowiedzi są "
            "anonimowe: nie podawaj imienia i nazwiska. Możesz pominąć dowolne pytanie."
        ),
        questions=(
            ("Ile masz lat?", ("poniżej 25", "25–44", "45–64", "65–74", "75 lub więcej")),
            ("Czy masz niepełnosprawność lub przewlekłą chorobę?", ("Tak", "Nie")),
            ("Jak często korzystasz z internetu?", ("Codziennie", "Czasami", "Nigdy")),
        ),
        prefer="Wolę nie odpowiadać",
    ),
    "ur": dict(
        title="صحت کی خدمات: اپنی رائے دیں",
        instruction=(
            "براہ کرم اپنے الفاظ میں جواب دیں۔ ہر تجویز کے لیے ایک خانے پر نشان لگائیں۔ "
            "جس سوال کا جواب نہ دینا چاہیں اسے چھوڑ سکتے ہیں۔"
        ),
        consent=(
            "میں اتفاق کرتا/کرتی ہوں کہ میرے جوابات، میرے نام کے بغیر، الائیڈ ہیلتھ پیشوں کی "
            "قومی حکمت عملی بنانے کے لیے استعمال کیے جا سکتے ہیں۔"
        ),
        prompts=(
            "فزیوتھراپسٹ، غذائی ماہر یا اسپیچ تھراپسٹ سے ملنا آپ کے لیے کیا چیز آسان بنائے گی؟",
            "ہمیں کسی ایسے وقت کے بارے میں بتائیں جب کسی صحت کی خدمت نے آپ کی اچھی مدد کی۔",
        ),
        ideas_intro="آپ ان تجاویز کے بارے میں کیا سوچتے ہیں؟",
        ideas=(
            "ملاقاتیں شام اور ہفتے کے آخر میں بھی پیش کی جانی چاہئیں۔",
            "لوگوں کو پہلے جی پی سے ملے بغیر خود رجوع کرنے کی اجازت ہونی چاہیے۔",
            "خطوط اور کتابچے میری زبان میں دستیاب ہونے چاہئیں۔",
            "کچھ ملاقاتیں صرف ہسپتالوں میں نہیں بلکہ کمیونٹی مراکز میں بھی ہونی چاہئیں۔",
            "کم آمدنی والے لوگوں کو سفر کے اخراجات میں مدد دی جانی چاہیے۔",
        ),
        labels=("متفق", "غیر متفق", "یقین نہیں"),
        demo_title="آپ کے بارے میں (اختیاری)",
        demo_intro=(
            "یہ سوالات ہمیں یہ جانچنے میں مدد دیتے ہیں کہ ہم سب کی بات سن رہے ہیں۔ آپ کے جوابات "
            "گمنام ہیں: اپنا نام نہ لکھیں۔ آپ کوئی بھی سوال چھوڑ سکتے ہیں۔"
        ),
        questions=(
            ("آپ کی عمر کیا ہے؟", ("25 سے کم", "25 تا 44", "45 تا 64", "65 تا 74", "75 یا زیادہ")),
            ("کیا آپ کو کوئی معذوری یا طویل مدتی بیماری ہے؟", ("ہاں", "نہیں")),
            ("آپ انٹرنیٹ کتنی بار استعمال کرتے ہیں؟", ("روزانہ", "کبھی کبھی", "کبھی نہیں")),
        ),
        prefer="بتانا نہیں چاہتے",
    ),
    "ar": dict(
        title="خدمات الصحة: شارك برأيك",
        instruction=(
            "يرجى الإجابة بكلماتك الخاصة. ضع علامة في مربع واحد لكل فكرة. "
            "يمكنك ترك أي سؤال لا تريد الإجابة عنه."
        ),
        consent=(
            "أوافق على استخدام إجاباتي، دون ذكر اسمي، في إعداد الاستراتيجية الوطنية "
            "للمهن الصحية المساندة."
        ),
        prompts=(
            "ما الذي سيسهّل عليك زيارة أخصائي العلاج الطبيعي أو التغذية أو النطق؟",
            "أخبرنا عن مرة ساعدتك فيها خدمة صحية بشكل جيد.",
        ),
        ideas_intro="ما رأيك في هذه الأفكار؟",
        ideas=(
            "يجب تقديم المواعيد في المساء وفي عطلات نهاية الأسبوع.",
            "يجب أن يتمكن الناس من إحالة أنفسهم دون زيارة الطبيب العام أولاً.",
            "يجب أن تتوفر الرسائل والنشرات بلغتي.",
            "يجب أن تُعقد بعض المواعيد في المراكز المجتمعية، وليس في المستشفيات فقط.",
            "يجب تقديم المساعدة في تكاليف السفر لذوي الدخل المنخفض.",
        ),
        labels=("أوافق", "لا أوافق", "لست متأكداً"),
        demo_title="عنك (اختياري)",
        demo_intro=(
            "تساعدنا هذه الأسئلة على التأكد من أننا نسمع من الجميع. إجاباتك مجهولة الهوية: "
            "لا تكتب اسمك. يمكنك تخطي أي سؤال."
        ),
        questions=(
            ("كم عمرك؟", ("أقل من 25", "25–44", "45–64", "65–74", "75 أو أكثر")),
            ("هل لديك إعاقة أو حالة صحية طويلة الأمد؟", ("نعم", "لا")),
            ("كم مرة تستخدم الإنترنت؟", ("كل يوم", "أحياناً", "أبداً")),
        ),
        prefer="أفضل عدم الإجابة",
    ),
    "bn": dict(
        title="স্বাস্থ্য পরিষেবা: আপনার মতামত দিন",
        instruction=(
            "অনুগ্রহ করে নিজের ভাষায় উত্তর দিন। প্রতিটি ধারণার জন্য একটি বাক্সে টিক দিন। "
            "যে প্রশ্নের উত্তর দিতে চান না তা বাদ দিতে পারেন।"
        ),
        consent=(
            "আমি সম্মত যে আমার উত্তরগুলি, আমার নাম ছাড়া, সহযোগী স্বাস্থ্য পেশার জাতীয় কৌশল তৈরিতে ব্যবহার করা যাবে।"
        ),
        prompts=(
            "ফিজিওথেরাপিস্ট, পুষ্টিবিদ বা স্পিচ থেরাপিস্টের কাছে যাওয়া আপনার জন্য কী সহজ করবে?",
            "এমন একটি সময়ের কথা বলুন যখন কোনো স্বাস্থ্য পরিষেবা আপনাকে ভালোভাবে সাহায্য করেছে।",
        ),
        ideas_intro="এই ধারণাগুলি সম্পর্কে আপনি কী মনে করেন?",
        ideas=(
            "সন্ধ্যায় এবং সপ্তাহান্তে অ্যাপয়েন্টমেন্ট দেওয়া উচিত।",
            "জিপির কাছে আগে না গিয়ে মানুষের নিজে থেকে রেফার করার সুযোগ থাকা উচিত।",
            "চিঠি ও লিফলেট আমার ভাষায় পাওয়া উচিত।",
            "কিছু অ্যাপয়েন্টমেন্ট শুধু হাসপাতালে নয়, কমিউনিটি কেন্দ্রেও হওয়া উচিত।",
            "কম আয়ের মানুষদের যাতায়াত খরচে সাহায্য করা উচিত।",
        ),
        labels=("একমত", "একমত নই", "নিশ্চিত নই"),
        demo_title="আপনার সম্পর্কে (ঐচ্ছিক)",
        demo_intro=(
            "এই প্রশ্নগুলি আমাদের নিশ্চিত করতে সাহায্য করে যে আমরা সবার কথা শুনছি। আপনার "
            "উত্তর বেনামী: আপনার নাম লিখবেন না। আপনি যেকোনো প্রশ্ন বাদ দিতে পারেন।"
        ),
        questions=(
            ("আপনার বয়স কত?", ("২৫-এর কম", "২৫–৪৪", "৪৫–৬৪", "৬৫–৭৪", "৭৫ বা তার বেশি")),
            (
                "আপনার কি কোনো প্রতিবন্ধকতা বা দীর্ঘমেয়াদী স্বাস্থ্য সমস্যা আছে?",
                ("হ্যাঁ", "না"),
            ),
            ("আপনি কত ঘন ঘন ইন্টারনেট ব্যবহার করেন?", ("প্রতিদিন", "মাঝে মাঝে", "কখনও না")),
        ),
        prefer="বলতে চাই না",
    ),
    "pa": dict(
        title="ਸਿਹਤ ਸੇਵਾਵਾਂ: ਆਪਣੀ ਰਾਏ ਦਿਓ",
        instruction=(
            "ਕਿਰਪਾ ਕਰਕੇ ਆਪਣੇ ਸ਼ਬਦਾਂ ਵਿੱਚ ਜਵਾਬ ਦਿਓ। ਹਰ ਵਿਚਾਰ ਲਈ ਇੱਕ ਖਾਨੇ ਵਿੱਚ ਨਿਸ਼ਾਨ ਲਗਾਓ। "
            "ਜਿਸ ਸਵਾਲ ਦਾ ਜਵਾਬ ਨਹੀਂ ਦੇਣਾ ਚਾਹੁੰਦੇ, ਉਸਨੂੰ ਛੱਡ ਸਕਦੇ ਹੋ।"
        ),
        consent=(
            "ਮੈਂ ਸਹਿਮਤ ਹਾਂ ਕਿ ਮੇਰੇ ਜਵਾਬ, ਮੇਰੇ ਨਾਮ ਤੋਂ ਬਿਨਾਂ, ਸਹਾਇਕ ਸਿਹਤ ਪੇਸ਼ਿਆਂ ਦੀ ਰਾਸ਼ਟਰੀ "
            "ਰਣਨੀਤੀ ਬਣਾਉਣ ਲਈ ਵਰਤੇ ਜਾ ਸਕਦੇ ਹਨ।"
        ),
        prompts=(
            "ਫਿਜ਼ੀਓਥੈਰੇਪਿਸਟ, ਖੁਰਾਕ ਮਾਹਿਰ ਜਾਂ ਸਪੀਚ ਥੈਰੇਪਿਸਟ ਨੂੰ ਮਿਲਣਾ ਤੁਹਾਡੇ ਲਈ ਕੀ ਆਸਾਨ ਬਣਾਏਗਾ?",
            "ਸਾਨੂੰ ਉਸ ਸਮੇਂ ਬਾਰੇ ਦੱਸੋ ਜਦੋਂ ਕਿਸੇ ਸਿਹਤ ਸੇਵਾ ਨੇ ਤੁਹਾਡੀ ਚੰਗੀ ਮਦਦ ਕੀਤੀ।",
        ),
        ideas_intro="ਤੁਸੀਂ ਇਹਨਾਂ ਵਿਚਾਰਾਂ ਬਾਰੇ ਕੀ ਸੋਚਦੇ ਹੋ?",
        ideas=(
            "ਮੁਲਾਕਾਤਾਂ ਸ਼ਾਮ ਨੂੰ ਅਤੇ ਹਫ਼ਤੇ ਦੇ ਅੰਤ ਵਿੱਚ ਵੀ ਦਿੱਤੀਆਂ ਜਾਣੀਆਂ ਚਾਹੀਦੀਆਂ ਹਨ।",
            "ਲੋਕਾਂ ਨੂੰ ਪਹਿਲਾਂ ਜੀਪੀ ਨੂੰ ਮਿਲੇ ਬਿਨਾਂ ਆਪਣੇ ਆਪ ਨੂੰ ਰੈਫ਼ਰ ਕਰਨ ਦੀ ਇਜਾਜ਼ਤ ਹੋਣੀ ਚਾਹੀਦੀ ਹੈ।",
            "ਚਿੱਠੀਆਂ ਅਤੇ ਪਰਚੇ ਮੇਰੀ ਭਾਸ਼ਾ ਵਿੱਚ ਮਿਲਣੇ ਚਾਹੀਦੇ ਹਨ।",
            "ਕੁਝ ਮੁਲਾਕਾਤਾਂ ਸਿਰਫ਼ ਹਸਪਤਾਲਾਂ ਵਿੱਚ ਨਹੀਂ, ਕਮਿਊਨਿਟੀ ਕੇਂਦਰਾਂ ਵਿੱਚ ਵੀ ਹੋਣੀਆਂ ਚਾਹੀਦੀਆਂ ਹਨ।",
            "ਘੱਟ ਆਮਦਨ ਵਾਲੇ ਲੋਕਾਂ ਨੂੰ ਸਫ਼ਰ ਦੇ ਖਰਚੇ ਵਿੱਚ ਮਦਦ ਮਿਲਣੀ ਚਾਹੀਦੀ ਹੈ।",
        ),
        labels=("ਸਹਿਮਤ", "ਅਸਹਿਮਤ", "ਪੱਕਾ ਨਹੀਂ"),
        demo_title="ਤੁਹਾਡੇ ਬਾਰੇ (ਵਿਕਲਪਿਕ)",
        demo_intro=(
            "ਇਹ ਸਵਾਲ ਸਾਨੂੰ ਇਹ ਜਾਂਚਣ ਵਿੱਚ ਮਦਦ ਕਰਦੇ ਹਨ ਕਿ ਅਸੀਂ ਸਭ ਦੀ ਗੱਲ ਸੁਣ ਰਹੇ ਹਾਂ। ਤੁਹਾਡੇ ਜਵਾਬ "
            "ਗੁਮਨਾਮ ਹਨ: ਆਪਣਾ ਨਾਮ ਨਾ ਲਿਖੋ। ਤੁਸੀਂ ਕੋਈ ਵੀ ਸਵਾਲ ਛੱਡ ਸਕਦੇ ਹੋ।"
        ),
        questions=(
            ("ਤੁਹਾਡੀ ਉਮਰ ਕੀ ਹੈ?", ("25 ਤੋਂ ਘੱਟ", "25–44", "45–64", "65–74", "75 ਜਾਂ ਵੱਧ")),
            ("ਕੀ ਤੁਹਾਨੂੰ ਕੋਈ ਅਪਾਹਜਤਾ ਜਾਂ ਲੰਬੀ ਬਿਮਾਰੀ ਹੈ?", ("ਹਾਂ", "ਨਹੀਂ")),
            ("ਤੁਸੀਂ ਇੰਟਰਨੈੱਟ ਕਿੰਨੀ ਵਾਰ ਵਰਤਦੇ ਹੋ?", ("ਹਰ ਰੋਜ਼", "ਕਦੇ-ਕਦੇ", "ਕਦੇ ਨਹੀਂ")),
        ),
        prefer="ਦੱਸਣਾ ਨਹੀਂ ਚਾਹੁੰਦੇ",
    ),
}

# Shorter forms for the other supported languages: title, instruction, consent, one
# prompt, two ideas, answer labels.
SHORT_SAMPLES = {
    "ro": (
        "Servicii de sănătate: spuneți-vă părerea",
        "Vă rugăm să răspundeți cu propriile cuvinte. Bifați o căsuță pentru fiecare idee.",
        "Sunt de acord ca răspunsurile mele, fără numele meu, să fie folosite pentru "
        "strategia națională.",
        "Ce v-ar ușura accesul la un fizioterapeut?",
        (
            "Programările ar trebui oferite seara și în weekend.",
            "Scrisorile ar trebui să fie disponibile în limba mea.",
        ),
        ("De acord", "Nu sunt de acord", "Nu știu"),
    ),
    "pt": (
        "Serviços de saúde: dê a sua opinião",
        "Responda por palavras suas. Assinale uma caixa para cada ideia.",
        "Concordo que as minhas respostas, sem o meu nome, sejam usadas na estratégia nacional.",
        "O que tornaria mais fácil consultar um fisioterapeuta?",
        (
            "As consultas devem ser oferecidas à noite e aos fins de semana.",
            "As cartas devem estar disponíveis na minha língua.",
        ),
        ("Concordo", "Discordo", "Não sei"),
    ),
    "es": (
        "Servicios de salud: dé su opinión",
        "Responda con sus propias palabras. Marque una casilla para cada idea.",
        "Acepto que mis respuestas, sin mi nombre, se usen para la estrategia nacional.",
        "¿Qué le facilitaría ver a un fisioterapeuta?",
        (
            "Las citas deberían ofrecerse por la tarde y los fines de semana.",
            "Las cartas deberían estar disponibles en mi idioma.",
        ),
        ("De acuerdo", "En desacuerdo", "No estoy seguro"),
    ),
    "gu": (
        "આરોગ્ય સેવાઓ: તમારો અભિપ્રાય આપો",
        "કૃપા કરીને તમારા શબ્દોમાં જવાબ આપો. દરેક વિચાર માટે એક ખાનામાં નિશાની કરો.",
        "હું સંમત છું કે મારા જવાબો, મારા નામ વિના, રાષ્ટ્રીય વ્યૂહરચના માટે વાપરી શકાય.",
        "ફિઝિયોથેરાપિસ્ટને મળવાનું તમારા માટે શું સરળ બનાવશે?",
        (
            "મુલાકાતો સાંજે અને સપ્તાહના અંતે પણ આપવી જોઈએ.",
            "પત્રો મારી ભાષામાં ઉપલબ્ધ હોવા જોઈએ.",
        ),
        ("સંમત", "અસંમત", "ખાતરી નથી"),
    ),
    "so": (
        "Adeegyada caafimaadka: ra'yigaaga sheeg",
        "Fadlan ku jawaab ereyadaada. Calaamadee hal sanduuq fikrad kasta.",
        "Waan ogolahay in jawaabahayga, magacayga la'aan, loo isticmaalo istaraatiijiyadda "
        "qaranka.",
        "Maxaa kuu fududeyn lahaa inaad aragto dhakhtarka jimicsiga?",
        (
            "Ballamaha waa in la bixiyaa fiidkii iyo dhammaadka toddobaadka.",
            "Waraaqaha waa inay ku qoran yihiin luqaddayda.",
        ),
        ("Waan ku raacsanahay", "Kuma raacsani", "Ma hubo"),
    ),
    "uk": (
        "Послуги охорони здоров'я: висловіть свою думку",
        "Будь ласка, відповідайте своїми словами. Позначте одну клітинку для кожної ідеї.",
        "Я погоджуюся, щоб мої відповіді без мого імені використали для національної стратегії.",
        "Що полегшило б вам візит до фізіотерапевта?",
        (
            "Прийоми мають бути доступні ввечері та у вихідні.",
            "Листи мають бути доступні моєю мовою.",
        ),
        ("Згоден", "Не згоден", "Не впевнений"),
    ),
}


def sample_spec(
    language: str,
    *,
    form_id: str = "AHP2025",
    text_from: str | None = None,
    demographics: bool = True,
    **changes,
) -> FormSpec:
    """The consultation form in `language` (strings from `text_from`, default the same)."""
    s = SAMPLES[text_from or language]
    demo = None
    if demographics:
        question_ids = ("age", "disability", "internet")
        option_ids = (AGE_IDS, ("yes", "no"), ("daily", "sometimes", "never"))
        demo = Demographics(
            title=s["demo_title"],
            intro=s["demo_intro"],
            questions=tuple(
                Question(
                    qid,
                    text,
                    tuple(Option(oid, label) for oid, label in zip(oids, labels, strict=True)),
                    s["prefer"],
                )
                for qid, oids, (text, labels) in zip(
                    question_ids, option_ids, s["questions"], strict=True
                )
            ),
        )
    spec = FormSpec(
        form_id=form_id,
        language=language,
        title=s["title"],
        instruction=s["instruction"],
        consent=s["consent"],
        prompts=tuple(
            Prompt(pid, text) for pid, text in zip(PROMPT_IDS, s["prompts"], strict=True)
        ),
        ideas=tuple(Idea(iid, text) for iid, text in zip(IDEA_IDS, s["ideas"], strict=True)),
        answer_labels=AnswerLabels(*s["labels"]),
        ideas_intro=s["ideas_intro"],
        demographics=demo,
    )
    return FormSpec(**{**vars(spec), **changes})


def short_spec(language: str, **changes) -> FormSpec:
    title, instruction, consent, prompt, ideas, labels = SHORT_SAMPLES[language]
    spec = FormSpec(
        form_id="AHPSHORT",
        language=language,
        title=title,
        instruction=instruction,
        consent=consent,
        prompts=(Prompt("easier", prompt),),
        ideas=tuple(Idea(iid, text) for iid, text in zip(IDEA_IDS, ideas, strict=False)),
        answer_labels=AnswerLabels(*labels),
    )
    return FormSpec(**{**vars(spec), **changes})


# -- reading the PDF back ---------------------------------------------------------------


_ARABIC_MARKS = re.compile("[\u0640\u064b-\u065f\u0670]")


def normalise(text: str) -> str:
    """Text as a search box compares it: NFKC (presentation forms become letters), no
    Arabic short-vowel marks or tatweel (optional in Arabic and Urdu writing, and
    extractors place a mark beside or after its letter), single spaces."""
    text = _ARABIC_MARKS.sub("", unicodedata.normalize("NFKC", text))
    return " ".join(text.split())


def page_images(pdf_path, dpi: int = 150):
    """Every page rasterised, as PIL images."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(pdf_path))
    try:
        return [page.render(scale=dpi / 72).to_pil() for page in pdf]
    finally:
        pdf.close()


def page_texts(pdf_path) -> list[str]:
    """The extracted text of each page (pypdfium2)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(pdf_path))
    try:
        texts = []
        for page in pdf:
            textpage = page.get_textpage()
            texts.append(textpage.get_text_range())
            textpage.close()
            page.close()
        return texts
    finally:
        pdf.close()


def decode_qr(image) -> list[str]:
    import zxingcpp

    return [
        barcode.text
        for barcode in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    ]


# A minimal reader for the PDFs ReportLab writes: enough to see which glyphs were drawn.

_OBJ_RE = re.compile(rb"(\d+) 0 obj\s*(.*?)endobj", re.S)


def pdf_objects(data: bytes) -> dict[int, tuple[bytes, bytes | None]]:
    """Object number -> (dictionary text, decoded stream or None)."""
    objects = {}
    for match in _OBJ_RE.finditer(data):
        body = match.group(2)
        stream = None
        if b"stream" in body:
            head, _, rest = body.partition(b"stream")
            raw = rest.lstrip(b"\r\n").rsplit(b"endstream", 1)[0]
            if b"ASCII85Decode" in head:
                raw = base64.a85decode(b"".join(raw.split()).removesuffix(b"~>"))
            stream = zlib.decompress(raw) if b"FlateDecode" in head else raw
            body = head
        objects[int(match.group(1))] = (body, stream)
    return objects


def drawn_glyphs(pdf_bytes: bytes) -> list[tuple[str, int, bytes]]:
    """(ActualText, glyph id in the embedded subset, glyph outline key) for each drawn glyph,
    from every content stream, in drawing order.

    The subset's own glyph id is mapped back to an outline drawn with HarfBuzz from the
    embedded font program, so a test can compare what was drawn with what HarfBuzz chose
    in the original font.
    """
    import uharfbuzz as hb

    objects = pdf_objects(pdf_bytes)
    fonts = {}  # resource name -> (hb font, cmap byte -> gid)
    for body, _ in objects.values():
        name = re.search(rb"/Name /(F\d+\+\d+)", body)
        file_ref = None
        if name and b"/Subtype /TrueType" in body:
            descriptor = int(re.search(rb"/FontDescriptor (\d+) 0 R", body).group(1))
            file_ref = int(re.search(rb"/FontFile2 (\d+) 0 R", objects[descriptor][0]).group(1))
            program = objects[file_ref][1]
            fonts[name.group(1).decode()] = (
                hb.Font(hb.Face(hb.Blob(program))),
                _cmap_format6(program),
            )
    out = []
    token_re = re.compile(
        rb"/Span <</ActualText <FEFF([0-9A-F]*)>>> BDC|/(F\d+\+\d+) [\d.]+ Tf|<([0-9A-F]+)>|EMC"
    )
    for _, stream in objects.values():
        if not stream or b" Tf" not in stream:
            continue
        actual, font = "", None
        for match in token_re.finditer(stream):
            if match.group(1) is not None:
                actual = bytes.fromhex(match.group(1).decode()).decode("utf-16-be")
            elif match.group(2):
                font = fonts[match.group(2).decode()]
            elif match.group(3) and font is not None:
                raw = bytes.fromhex(match.group(3).decode())
                for byte in raw:
                    gid = font[1][byte]
                    out.append((actual, gid, outline(font[0], gid)))
            elif match.group(0) == b"EMC":
                actual = ""
    return out


def outline(font, gid: int) -> bytes:
    """A glyph's outline as text, comparable across fonts that share the glyph."""
    commands = []

    class Pen:
        def moveTo(self, p):  # noqa: N802 - pen protocol
            commands.append(("M", p))

        def lineTo(self, p):  # noqa: N802
            commands.append(("L", p))

        def qCurveTo(self, *ps):  # noqa: N802
            commands.append(("Q", ps))

        def curveTo(self, *ps):  # noqa: N802
            commands.append(("C", ps))

        def closePath(self):  # noqa: N802
            commands.append(("Z",))

        def endPath(self):  # noqa: N802
            commands.append(("E",))

    font.draw_glyph_with_pen(gid, Pen())
    return repr((commands, font.get_glyph_h_advance(gid))).encode()


def _cmap_format6(program: bytes) -> dict[int, int]:
    """ReportLab writes one (1, 0) cmap subtable of format 6: byte -> subset glyph."""
    import struct

    num_tables = struct.unpack(">H", program[4:6])[0]
    for i in range(num_tables):
        tag, _, offset, _ = struct.unpack(">4sIII", program[12 + 16 * i : 28 + 16 * i])
        if tag == b"cmap":
            sub = offset + struct.unpack(">I", program[offset + 8 : offset + 12])[0]
            fmt, _, _, first, count = struct.unpack(">HHHHH", program[sub : sub + 10])
            assert fmt == 6
            gids = struct.unpack(f">{count}H", program[sub + 10 : sub + 10 + 2 * count])
            return {first + i: g for i, g in enumerate(gids)}
    raise AssertionError("no cmap in the embedded font")


def geometry_problems(layout) -> list[str]:
    """Everything a scan reader relies on: boxes and areas inside the page, clear of each
    other, of the QR code with its quiet zone, of the alignment marks and the label."""
    from paper_forms import Rect

    page_rect = Rect(0, 0, layout.paper.width, layout.paper.height)
    problems = []
    for sheet in layout.sheets:
        for page in sheet.pages:
            where = f"sheet {sheet.serial} page {page.page}"
            fixed = [("qr", page.qr.rect.grown(page.qr.quiet_zone)), ("label", page.label)]
            fixed += [(mark.corner, mark.rect) for mark in page.marks]
            things = [
                (
                    f"{b.kind} {b.idea_id or b.question_id or ''} {b.answer or b.option_id or ''}",
                    b.rect,
                )
                for b in page.boxes
            ]
            things += [(f"area {a.prompt_id}", a.rect) for a in page.areas]
            for name, rect in things + fixed:
                if not rect.inside(page_rect):
                    problems.append(f"{where}: {name} is off the page")
            for i, (name, rect) in enumerate(things):
                for other, other_rect in things[i + 1 :] + fixed:
                    if rect.overlaps(other_rect):
                        problems.append(f"{where}: {name} overlaps {other}")
            for i, (name, rect) in enumerate(fixed):
                for other, other_rect in fixed[i + 1 :]:
                    if rect.overlaps(other_rect):
                        problems.append(f"{where}: {name} overlaps {other}")
    return problems


def font_sizes(pdf_path) -> set[float]:
    """The size of every character pdfium finds on every page."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    sizes = set()
    pdf = pdfium.PdfDocument(str(pdf_path))
    for page in pdf:
        textpage = page.get_textpage()
        for i in range(textpage.count_chars()):
            if not textpage.get_text_range(i, 1).isspace():
                sizes.add(round(pdfium_c.FPDFText_GetFontSize(textpage.raw, i), 2))
        textpage.close()
    pdf.close()
    return sizes
